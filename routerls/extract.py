"""The code in a model's answer, or why there is none.

Models wrap code in fences and chatter ("Here is the fixed code:"), and sometimes answer in
sentences or decline. `extract_code` takes the code out; `refusal` says when what is left is not
code at all, so prose never gets pasted into a file. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from routerls.text import split_lines

# Languages whose content is prose: an answer in sentences is legitimate there.
_PROSE_LANGUAGES = frozenset(
    {"markdown", "plaintext", "text", "restructuredtext", "asciidoc", "latex", "tex", "org"}
)

_FENCE_ALIASES = {
    "python": {"python", "py", "python3", "py3"},
    "javascript": {"javascript", "js", "jsx", "mjs"},
    "javascriptreact": {"javascript", "js", "jsx"},
    "typescript": {"typescript", "ts", "tsx"},
    "typescriptreact": {"typescript", "ts", "tsx"},
    "shellscript": {"sh", "bash", "shell", "zsh"},
    "csharp": {"csharp", "cs", "c#"},
    "cpp": {"cpp", "c++", "cc", "cxx"},
    "rust": {"rust", "rs"},
    "go": {"go", "golang"},
    "ruby": {"ruby", "rb"},
}


# --- extracting the code ------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$")
_CHATTER = re.compile(
    r"""^(?:here(?:'s|’s|\s+is|\s+are)|sure|certainly|of\s+course|okay|ok|absolutely|great|below
    |the\s+(?:fixed|updated|corrected|refactored|improved|rewritten|modified|following|new|code)
    |i(?:'ve|’ve|\s+have|\s+made|\s+updated|\s+fixed|\s+added|\s+refactored|\s+changed|\s+rewrote)
    |this\s+(?:is|version|code|should|fixes|change|will)
    |(?:explanation|changes|notes?|summary|key\s+changes|output)\b)""",
    re.IGNORECASE | re.VERBOSE,
)
_REFUSAL = re.compile(
    r"^\W*(?:i(?:'m|’m|\s+am)?\s+(?:sorry|unable|not\s+able)|i\s+(?:cannot|can't|can’t|can\s+not|won't)"
    r"|sorry\b|as\s+an\s+ai\b|unfortunately\b)",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
_WORD = re.compile(r"^[(\"'“]?[A-Za-z][A-Za-z'’-]*[)\"'”]?[,.;:!?]?$")
_CODE_CHARS = re.compile(r"[={}\[\];<>]|\w\(")


def extract_code(model_text: str, *, language_id: str | None = None) -> str:
    """The code in a model's answer.

    With fences: the largest fenced block, preferring blocks tagged with `language_id` (or
    untagged) over, say, a shell snippet that shows how to run it; an unclosed fence (a
    truncated answer) runs to the end. Without fences: the text minus leading chatter
    ("Here is the fixed code:") and trailing prose paragraphs. Leading and trailing blank lines
    go; the first line keeps its indentation.
    """
    lines = split_lines(model_text)
    blocks = list(_fenced_blocks(lines))
    if blocks:
        wanted = _FENCE_ALIASES.get(language_id or "", set()) | {language_id or "", ""}
        preferred = [body for tag, body in blocks if tag in wanted] or [b for _, b in blocks]
        lines = max(preferred, key=lambda body: len("\n".join(body)))
    else:
        lines = _strip_chatter(lines)
    return "\n".join(lines).strip("\r\n").rstrip()


def _fenced_blocks(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        i += 1
        if not m:
            continue
        indent, fence, tag = m.group(1), m.group(2), m.group(3).lower()
        body: list[str] = []
        while i < len(lines):
            s = lines[i].strip()
            if s.startswith(fence) and set(s) == {fence[0]}:
                break
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t"))
            i += 1
        i += 1
        yield tag, body


def _strip_chatter(lines: list[str]) -> list[str]:
    lines = list(lines)
    while len(lines) > 1 and (not lines[0].strip() or _is_chatter(lines[0])):
        lines.pop(0)
    # Whole prose paragraphs before and after the code, as long as some code remains.
    for lead in (True, False):
        while True:
            _trim_blank(lines)
            paragraph = _edge_paragraph(lines, lead)
            if not paragraph or len(paragraph) == len(lines):
                break
            if not all(_is_chatter(x) or _is_prose(x) for x in paragraph):
                break
            if lead:
                del lines[: len(paragraph)]
            else:
                del lines[-len(paragraph) :]
    return lines


def _trim_blank(lines: list[str]) -> None:
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()


def _edge_paragraph(lines: list[str], lead: bool) -> list[str]:
    blanks = [i for i, x in enumerate(lines) if not x.strip()]
    if not blanks:
        return lines
    return lines[: blanks[0]] if lead else lines[blanks[-1] + 1 :]


def _is_chatter(line: str) -> bool:
    s = line.strip()
    return (
        line[:1] not in (" ", "\t")
        and bool(_CHATTER.match(s))
        and (s.endswith((":", ".", "!")) or _is_prose(s))
    )


def _is_prose(line: str) -> bool:
    """A sentence, not a line of code: unindented words, sentence punctuation, no code syntax."""
    if line[:1] in (" ", "\t"):
        return False
    s = re.sub(r"`[^`]*`", "x", line.strip())
    bullet = _BULLET.match(s)
    if bullet:
        s = s[bullet.end() :]
    words = s.split()
    if len(words) < 3 or _CODE_CHARS.search(s):
        return False
    if not bullet and not words[0][:1].isupper():
        return False
    if len(words[0].strip(",.:;!?")) > 1 and words[0].isupper():  # SELECT, INSERT, ...
        return False
    if sum(1 for w in words if _WORD.match(w)) < 0.7 * len(words):
        return False
    return s[-1] in ".!?:" or len(words) >= 6


def refusal(code: str, language_id: str) -> str | None:
    """Why this answer is not code at all, or None."""
    content = [x for x in split_lines(code) if x.strip()]
    if not content:
        return None
    first = content[0].strip()
    if _REFUSAL.match(first) and not any(_CODE_CHARS.search(x) for x in content):
        return f"the model declined or answered in prose: {quote(first)}"
    if language_id not in _PROSE_LANGUAGES and all(_is_prose(x) for x in content):
        return f"the model answered in prose, not code: {quote(first)}"
    return None


def quote(s: str, limit: int = 80) -> str:
    return f"“{s if len(s) <= limit else s[: limit - 1] + '…'}”"

