"""Model text → edits on the document the request saw.

Models answer with fences, chatter and code re-indented to column 0. This module turns an answer
into the smallest set of LSP `TextEdit`s (so review and undo show only what changed), in the
document's own line endings and position encoding, or refuses output that is not code rather
than pasting prose into a file. Everything here is pure; the only question asked of the outside
world is "does this path exist?", through an injectable predicate when choosing a test file's name.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Sequence

import attrs

from routerls.checks.parse import python_error
from routerls.extract import extract_code, quote, refusal
from routerls.indent import dedent, fit, indent_all, indent_of
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
            f"the model's answer contains no code: {quote(model_text.strip().splitlines()[0])}"
        )
    why = refusal(code, language_id)
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
    fitted = fit(prefix, split_lines(body), split_lines(code))
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
    new_lines = indent_all(dedent(split_lines(code)), indent_of(anchor))
    if language_id == "python":
        _check_python("\n".join(block), "\n".join(new_lines + block))
    pos = Position(first, 0)
    return TextEdit(Range(pos, pos), eol.join(new_lines) + eol)


def _check_python(orig_src: str | None, new_src: str) -> None:
    """Refuse Python that does not parse, unless the original did not parse either."""
    if orig_src is not None and _parse_error(orig_src) is not None:
        return
    err = _parse_error(new_src)
    if err is not None:
        raise EditError(f"model output is not valid Python: {err}; the document was left unchanged")


def _parse_error(src: str) -> str | None:
    """Why `src` does not parse, read at its own indentation (a fragment is dedented first)."""
    err = python_error("\n".join(dedent(split_lines(src))))
    if err is None:
        return None
    return err.msg if err.lineno is None else f"{err.msg} (line {err.lineno} of the answer)"


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
