"""Model text → edits on the document the request saw.

Models answer with fences, chatter and code re-indented to column 0. This module turns an answer
into the smallest set of LSP `TextEdit`s (so review and undo show only what changed), in the
document's own line endings and position encoding, or refuses output that is not code rather
than pasting prose into a file. Everything here is pure; the only question asked of the outside
world is "does this path exist?", through an injectable predicate when choosing a test file's name.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections.abc import Callable, Iterator, Sequence

import attrs

from routerls.text import (
    UTF16,
    Position,
    Range,
    line_ending,
    line_starts,
    offset_of,
    position_of,
    split_lines,
)


@attrs.frozen
class TextEdit:
    range: Range
    new_text: str


@attrs.frozen
class FileCreate:
    path: str  # absolute path of the new file
    text: str


@attrs.frozen
class EditResult:
    edits: tuple[TextEdit, ...] = ()  # against the document the request saw
    create: FileCreate | None = None  # result kind new_file
    markdown: str | None = None  # result kind markdown


class EditError(ValueError):
    """The model's output is unusable; the message says why, in words a user can act on."""


RESULT_KINDS = ("replace", "insert_above", "new_file", "markdown")

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


def _refusal(code: str, language_id: str) -> str | None:
    """Why this answer is not code at all, or None."""
    content = [x for x in split_lines(code) if x.strip()]
    if not content:
        return None
    first = content[0].strip()
    if _REFUSAL.match(first) and not any(_CODE_CHARS.search(x) for x in content):
        return f"the model declined or answered in prose: {_quote(first)}"
    if language_id not in _PROSE_LANGUAGES and all(_is_prose(x) for x in content):
        return f"the model answered in prose, not code: {_quote(first)}"
    return None


def _quote(s: str, limit: int = 80) -> str:
    return f"“{s if len(s) <= limit else s[: limit - 1] + '…'}”"


# --- minimal edits ------------------------------------------------------------------------------

_MERGE_GAP = 2  # an unchanged single character between two changes is rewritten, not kept
_EDIT_COST = 8  # what one more edit costs a reader, in characters, when choosing the finer diff
_TOKEN_DIFF_LIMIT = 20_000  # blocks larger than this are diffed by common prefix/suffix only


def minimal_edits(
    doc_text: str, rng: Range, new_text: str, encoding: str = UTF16
) -> tuple[TextEdit, ...]:
    """The fewest, smallest edits that turn the text in `rng` into `new_text`.

    Lines first (difflib), then tokens inside each changed block when that is smaller, so a
    one-token fix is one small edit. Positions are in `doc_text` and `encoding`; an edit never
    starts or ends between the two halves of a CRLF. `new_text` should already use the document's
    line endings (`build_result` sees to that).
    """
    starts = line_starts(doc_text)
    s = offset_of(doc_text, rng.start, encoding, starts)
    e = offset_of(doc_text, rng.end, encoding, starts)
    old = doc_text[s:e]
    if old == new_text:
        return ()
    edits = []
    for i1, i2, j1, j2 in _diff_spans(old, new_text):
        a, b, text = _snap_crlf(doc_text, s + i1, s + i2, new_text[j1:j2])
        rng_ = Range(
            position_of(doc_text, a, encoding, starts), position_of(doc_text, b, encoding, starts)
        )
        edits.append(TextEdit(rng_, text))
    return tuple(edits)


def _lines_keepends(text: str) -> list[str]:
    starts = line_starts(text)
    ends = starts[1:] + [len(text)]
    return [text[a:b] for a, b in zip(starts, ends) if b > a]


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def _diff_spans(old: str, new: str) -> list[tuple[int, int, int, int]]:
    a, b = _lines_keepends(old), _lines_keepends(new)
    ao, bo = _offsets(a), _offsets(b)
    spans: list[tuple[int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "replace":
            spans.extend(_token_spans(old, new, ao[i1], ao[i2], bo[j1], bo[j2]))
        elif tag != "equal":
            spans.append((ao[i1], ao[i2], bo[j1], bo[j2]))
    return spans


_TOKEN = re.compile(r"\r\n|\r|\n|[^\S\r\n]+|\w+|[^\w\s]")


def _token_spans(
    old: str, new: str, oa: int, ob: int, na: int, nb: int
) -> list[tuple[int, int, int, int]]:
    """Finer spans inside one changed line block, or the whole block when that is smaller.

    Diffed by token (word, run of spaces, symbol, line break) rather than by character, so
    `qty` → `quantity` replaces the word instead of inserting `uanti` into it.
    """
    x, y = old[oa:ob], new[na:nb]
    if len(x) + len(y) > _TOKEN_DIFF_LIMIT:
        p = len(os.path.commonprefix([x, y]))
        q = len(os.path.commonprefix([x[p:][::-1], y[p:][::-1]]))
        return [(oa + p, ob - q, na + p, nb - q)]
    xt, yt = _TOKEN.findall(x), _TOKEN.findall(y)
    xo, yo = _offsets(xt), _offsets(yt)
    ops: list[list[int]] = []
    matcher = difflib.SequenceMatcher(None, xt, yt, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = xo[i1], xo[i2], yo[j1], yo[j2]
        if ops and i1 - ops[-1][1] < _MERGE_GAP:
            ops[-1][1], ops[-1][3] = i2, j2
        else:
            ops.append([i1, i2, j1, j2])
    cost = sum(i2 - i1 + j2 - j1 + _EDIT_COST for i1, i2, j1, j2 in ops)
    if cost >= len(x) + len(y) + _EDIT_COST:
        return [(oa, ob, na, nb)]
    return [(oa + i1, oa + i2, na + j1, na + j2) for i1, i2, j1, j2 in ops]


def _snap_crlf(doc: str, a: int, b: int, text: str) -> tuple[int, int, str]:
    """Widen an edit that would split a CRLF; LSP has no position between \\r and \\n."""
    if 0 < a < len(doc) and doc[a - 1] == "\r" and doc[a] == "\n":
        a, text = a - 1, "\r" + text
    if 0 < b < len(doc) and doc[b - 1] == "\r" and doc[b] == "\n":
        b, text = b + 1, text + "\n"
    return a, b, text


def apply_edits(doc_text: str, edits: Sequence[TextEdit], encoding: str = UTF16) -> str:
    """`doc_text` with non-overlapping `edits` applied, given in any order.

    Insertions at the same position keep their given order. Raises ValueError on overlap.
    """
    starts = line_starts(doc_text)
    spans = sorted(
        (
            offset_of(doc_text, ed.range.start, encoding, starts),
            offset_of(doc_text, ed.range.end, encoding, starts),
            i,
            ed.new_text,
        )
        for i, ed in enumerate(edits)
    )
    out, pos = [], 0
    for a, b, _, text in spans:
        if a < pos:
            raise ValueError(f"overlapping edits at offset {a}")
        out += (doc_text[pos:a], text)
        pos = max(b, a)
    out.append(doc_text[pos:])
    return "".join(out)


def rebase_edits(
    old_text: str,
    new_text: str,
    rng: Range,
    edits: Sequence[TextEdit],
    encoding: str = UTF16,
) -> tuple[TextEdit, ...] | None:
    """`edits` made against `old_text`, moved onto `new_text`, or None when that is unsafe.

    The document moved on while the model was thinking. The span the edits and `rng` cover must be
    untouched in `new_text`: found at the same offsets, else through a line diff old → new, else as
    its one and only occurrence. If it changed or is ambiguous, None: the caller should rerun
    rather than guess.
    """
    if old_text == new_text:
        return tuple(edits)
    starts = line_starts(old_text)
    spans = [
        (
            offset_of(old_text, r.start, encoding, starts),
            offset_of(old_text, r.end, encoding, starts),
        )
        for r in [rng, *(ed.range for ed in edits)]
    ]
    a, b = min(x for x, _ in spans), max(y for _, y in spans)
    delta = _locate(old_text, new_text, a, b, starts)
    if delta is None:
        return None
    new_starts = line_starts(new_text)
    return tuple(
        TextEdit(
            Range(
                position_of(new_text, x + delta, encoding, new_starts),
                position_of(new_text, y + delta, encoding, new_starts),
            ),
            ed.new_text,
        )
        for ed, (x, y) in zip(edits, spans[1:])
    )


def _locate(old: str, new: str, a: int, b: int, starts: list[int]) -> int | None:
    """How far old[a:b] moved in `new`, if it is still there, unchanged and unambiguous."""
    anchor = old[a:b]
    if new[a:b] == anchor and old[:a] == new[:a]:
        return 0
    al, bl = _lines_keepends(old), _lines_keepends(new)
    ao, bo = _offsets(al), _offsets(bl)
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, al, bl, autojunk=False).get_opcodes():
        if tag == "equal" and ao[i1] <= a and b <= ao[i2]:
            return bo[j1] - ao[i1]
    if not anchor:  # an insertion point: find its whole line instead
        line = max(i for i, s in enumerate(starts) if s <= a)
        lo, hi = starts[line], starts[line + 1] if line + 1 < len(starts) else len(old)
        anchor, a = old[lo:hi], lo
    if not anchor.strip():
        return None
    found = new.find(anchor)
    if found < 0 or new.find(anchor, found + 1) >= 0:
        return None
    return found - a


# --- results ------------------------------------------------------------------------------------


def build_result(
    result_kind: str,
    doc_text: str,
    rng: Range,
    model_text: str,
    *,
    path: str,
    language_id: str = "python",
    encoding: str = UTF16,
    workspace_root: str | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> EditResult:
    """What to do with a model's answer for one action.

    - `replace`: minimal edits turning the range into the answer's code, re-indented to where
      the selection sits, in the document's line endings, with the range's leading blank lines
      and trailing whitespace (its final newline) kept as they were.
    - `insert_above`: the code inserted above the range's first line, at that line's indentation.
    - `new_file`: a test file for `path` (see `new_test_path`; `exists` is the only I/O).
    - `markdown`: the answer as is, to show.

    An empty range means the same span `context.gather` sent the model (its enclosing scope or
    its line), so the answer replaces what the model saw. Raises EditError for an empty answer,
    a refusal or prose where code was wanted, and (for Python) code that does not parse where
    the original did.
    """
    if result_kind not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {result_kind!r}; expected one of {RESULT_KINDS}")
    if not model_text.strip():
        raise EditError("the model returned an empty answer")
    if result_kind == "markdown":
        return EditResult(markdown=model_text)
    code = extract_code(model_text, language_id=language_id)
    if not code.strip():
        raise EditError(
            f"the model's answer contains no code: {_quote(model_text.strip().splitlines()[0])}"
        )
    why = _refusal(code, language_id)
    if why:
        raise EditError(why)
    if rng.is_empty and result_kind != "new_file":
        from routerls.context import focus_range

        rng = focus_range(doc_text, rng, language_id=language_id, encoding=encoding)
    eol = line_ending(doc_text)
    if result_kind == "new_file":
        if language_id == "python":
            _check_python(None, code)
        target = new_test_path(
            path, language_id=language_id, workspace_root=workspace_root, exists=exists
        )
        return EditResult(create=FileCreate(target, eol.join(split_lines(code)) + eol))
    if result_kind == "insert_above":
        return EditResult(edits=(_insert_above(doc_text, rng, code, language_id, encoding, eol),))
    return EditResult(edits=_replace(doc_text, rng, code, language_id, encoding, eol))


def _replace(
    doc: str, rng: Range, code: str, language_id: str, encoding: str, eol: str
) -> tuple[TextEdit, ...]:
    starts = line_starts(doc)
    s = offset_of(doc, rng.start, encoding, starts)
    e = offset_of(doc, rng.end, encoding, starts)
    orig = doc[s:e]
    lead = re.match(r"(?:[ \t]*(?:\r\n|\r|\n))*", orig).group(0)
    body = orig[len(lead) :]
    trail = body[len(body.rstrip()) :]
    body = body[: len(body) - len(trail)]
    line_start = starts[max(i for i, x in enumerate(starts) if x <= s)]
    prefix = "" if lead else doc[line_start:s]
    fitted = _fit(prefix, split_lines(body), split_lines(code))
    if language_id == "python":
        # Parse both at the indentation they really have, the first line with its prefix.
        head = prefix if not prefix.strip() else ""
        orig_src = "\n".join([head + l0 for l0 in split_lines(body)[:1]] + split_lines(body)[1:])
        new_src = "\n".join([head + fitted[0]] + fitted[1:])
        _check_python(orig_src, new_src)
    new_text = lead + eol.join(fitted) + trail
    return minimal_edits(doc, rng, new_text, encoding)


def _insert_above(
    doc: str, rng: Range, code: str, language_id: str, encoding: str, eol: str
) -> TextEdit:
    lines = split_lines(doc)
    first = min(rng.start.line, len(lines) - 1)
    last = min(max(rng.end.line, first), len(lines) - 1)
    block = lines[first : last + 1]
    anchor = next((x for x in block if x.strip()), block[0])
    new_lines = _indent_all(_dedent(split_lines(code)), _indent(anchor))
    if language_id == "python":
        _check_python("\n".join(block), "\n".join(new_lines + block))
    pos = Position(first, 0)
    return TextEdit(Range(pos, pos), eol.join(new_lines) + eol)


def _fit(prefix: str, orig: list[str], new: list[str]) -> list[str]:
    """`new` indented like `orig`, which starts after `prefix` on its first line.

    Models usually return the code dedented to column 0, sometimes exactly as selected (first
    line bare, the rest at their full depth). Either way the lines are dedented and re-indented to
    the original's depth; the first line then drops the `prefix` the document already has.
    """
    while len(new) > 1 and not new[-1].strip():
        new = new[:-1]
    if prefix.strip():
        # The selection starts after code on its line: the first line is inline.
        first = new[0] if orig[0][:1].isspace() else new[0].lstrip()
        rest = new[1:]
        if not rest:
            return [first]
        orig_rest = [x for x in orig[1:] if x.strip()]
        target = _common_indent(orig_rest) if orig_rest else _indent(prefix)
        return [first] + _indent_all(_dedent(rest), target)
    logical = [prefix + orig[0]] + orig[1:]
    content = [x for x in logical if x.strip()]
    target = _common_indent(content) if content else prefix
    chosen = new
    if prefix and len(new) > 1:
        raw = [prefix + new[0]] + new[1:]
        want = _first_vs_rest(logical)
        if want is not None and _first_vs_rest(new) != want and _first_vs_rest(raw) == want:
            chosen = raw  # the model mirrored the selection: first line bare, rest at full depth
    fitted = _indent_all(_dedent(chosen), target)
    fitted[0] = fitted[0][len(prefix) :] if fitted[0].startswith(prefix) else fitted[0].lstrip()
    return fitted


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _common_indent(lines: Sequence[str]) -> str:
    return os.path.commonprefix([_indent(x) for x in lines if x.strip()] or [""])


def _dedent(lines: Sequence[str]) -> list[str]:
    common = len(_common_indent(lines))
    return [x[common:] if x.strip() else "" for x in lines]


def _indent_all(lines: Sequence[str], indent: str) -> list[str]:
    return [indent + x if x.strip() else "" for x in lines]


def _first_vs_rest(lines: Sequence[str]) -> int | None:
    """How much deeper the rest sits than the first line: the shape a re-indent must keep."""
    content = [x for x in lines if x.strip()]
    if len(content) < 2:
        return None
    return min(len(_indent(x)) for x in content[1:]) - len(_indent(content[0]))


def _check_python(orig_src: str | None, new_src: str) -> None:
    """Refuse Python that does not parse, unless the original did not parse either."""
    if orig_src is not None and _parse_error(orig_src) is not None:
        return
    err = _parse_error(new_src)
    if err is not None:
        raise EditError(f"model output is not valid Python: {err}; the document was left unchanged")


def _parse_error(src: str) -> str | None:
    lines = _dedent(split_lines(src))
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno} of the answer)"
    except ValueError as exc:  # null bytes
        return str(exc)
    return None


# --- where a new test file goes -----------------------------------------------------------------

_PROJECT_MARKERS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "package.json",
    "go.mod",
    "Cargo.toml",
    ".git",
)
_JS_LIKE = frozenset({"javascript", "javascriptreact", "typescript", "typescriptreact"})


def new_test_path(
    path: str,
    *,
    language_id: str = "python",
    workspace_root: str | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> str:
    """Where the tests for `path` go, as an absolute path that does not exist yet.

    Python (and the default): `test_<module>.py` in the nearest `tests/` (or `test/`) folder
    found going up from the file's folder, stopping at `workspace_root` — or, without one, at
    the first folder holding a project marker (pyproject.toml, .git, ...). With no such folder:
    `tests/` under the workspace root, else the project root, else beside the file. Go keeps
    `<module>_test.go` beside the file and JS/TS `<module>.test.<ext>`, as their tools expect.
    An existing target is never overwritten: `_ai`, then `_ai2`, `_ai3`, ... go before the
    extension's test suffix (`test_app_ai.py`, `app_ai_test.go`).
    """
    path = os.path.normpath(path)
    folder = os.path.dirname(path)
    stem, ext = os.path.splitext(os.path.basename(path))
    if stem == "__init__":
        stem = os.path.basename(folder)
    if language_id == "go":
        where, name = folder, lambda sfx: f"{stem}{sfx}_test.go"
    elif language_id in _JS_LIKE:
        where, name = folder, lambda sfx: f"{stem}{sfx}.test{ext or '.js'}"
    else:
        where = _tests_folder(folder, workspace_root, exists)
        name = lambda sfx: f"test_{stem}{sfx}{ext or '.py'}"
    for n in range(1, 1000):
        candidate = os.path.join(where, name("" if n == 1 else "_ai" if n == 2 else f"_ai{n - 1}"))
        if not exists(candidate):
            return candidate
    raise EditError(f"no free test file name in {where}")


def _tests_folder(folder: str, workspace_root: str | None, exists: Callable[[str], bool]) -> str:
    root = os.path.normpath(workspace_root) if workspace_root else None
    if root is not None and os.path.commonpath([root, folder]) != root:
        root = None  # a file outside the workspace: its own project decides
    project, cur = None, folder
    while True:
        for name in ("tests", "test"):
            if exists(os.path.join(cur, name)):
                return os.path.join(cur, name)
        if project is None and any(exists(os.path.join(cur, m)) for m in _PROJECT_MARKERS):
            project = cur
        if cur == root or (root is None and project is not None):
            break
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    return os.path.join(root or project or folder, "tests")
