"""Positions and ranges in a document, counted the way LSP counts them.

LSP columns are code units of the negotiated `positionEncoding` (UTF-16 unless the client
offers otherwise), so every conversion between a column and a Python string index goes
through here and nowhere else.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import attrs

UTF16 = "utf-16"
UTF8 = "utf-8"
UTF32 = "utf-32"


@attrs.frozen(order=True)
class Position:
    line: int
    character: int


@attrs.frozen
class Range:
    start: Position
    end: Position

    @classmethod
    def of(cls, l1: int, c1: int, l2: int, c2: int) -> Range:
        return cls(Position(l1, c1), Position(l2, c2))

    def overlaps(self, other: Range) -> bool:
        """True when the ranges share a position; an empty range touches its neighbours."""
        return not (self.end < other.start or other.end < self.start)

    @property
    def is_empty(self) -> bool:
        return self.start == self.end


def units(s: str, encoding: str = UTF16) -> int:
    """Length of `s` in code units of `encoding`."""
    if encoding == UTF32:
        return len(s)
    if encoding == UTF8:
        return len(s.encode("utf-8"))
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def column_to_index(line: str, column: int, encoding: str = UTF16) -> int:
    """Python index in `line` of an LSP column; columns past the end clamp to the end."""
    if encoding == UTF32:
        return min(column, len(line))
    count = 0
    for i, ch in enumerate(line):
        if count >= column:
            return i
        count += units(ch, encoding)
    return len(line)


def split_lines(text: str) -> list[str]:
    """Lines without their terminators; a final newline yields a last empty line, as in LSP."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def line_starts(text: str) -> list[int]:
    """Offset of the first character of each line (after \\n, \\r\\n or \\r)."""
    # A regex, not a character loop: this runs on every request, ~30x faster on a 300-line file.
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_text(text: str, starts: list[int], line: int) -> str:
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[starts[line] : end].rstrip("\r\n")


def offset_of(text: str, pos: Position, encoding: str = UTF16, starts: list[int] | None = None) -> int:
    """String offset of an LSP position; positions past the end clamp to the end."""
    starts = starts if starts is not None else line_starts(text)
    if pos.line >= len(starts):
        return len(text)
    if pos.line < 0:
        return 0
    return starts[pos.line] + column_to_index(_line_text(text, starts, pos.line), pos.character, encoding)


def position_of(text: str, offset: int, encoding: str = UTF16, starts: list[int] | None = None) -> Position:
    """LSP position of a string offset."""
    import bisect

    starts = starts if starts is not None else line_starts(text)
    line = bisect.bisect_right(starts, offset) - 1
    return Position(line, units(text[starts[line] : offset], encoding))


def slice_range(text: str, rng: Range, encoding: str = UTF16) -> str:
    starts = line_starts(text)
    return text[offset_of(text, rng.start, encoding, starts) : offset_of(text, rng.end, encoding, starts)]


def line_ending(text: str) -> str:
    """The document's dominant line ending, so edits keep CRLF files CRLF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"


def normalise_range(text: str, rng: Range, encoding: str = UTF16) -> Range:
    """`rng` as a range that exists in `text`: start before end, and each position clamped to
    the document (a line past the end goes to the end, a column past its line to the line's
    end). Editors send such ranges after an edit raced the request; downstream code may then
    index lines freely."""
    starts = line_starts(text)

    def clamp(pos: Position) -> Position:
        return position_of(text, offset_of(text, pos, encoding, starts), encoding, starts)

    start, end = clamp(rng.start), clamp(rng.end)
    if end < start:
        start, end = end, start
    return Range(start, end)


# LSP language ids by file suffix, for files the CLI reads and URIs a client sent without one
LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript",
             ".tsx": "typescriptreact", ".jsx": "javascriptreact", ".go": "go", ".rs": "rust",
             ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java", ".rb": "ruby", ".lua": "lua",
             ".sh": "shellscript", ".md": "markdown", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def language_of(path: PurePath | str) -> str:
    path = PurePath(path)
    return LANGUAGES.get(path.suffix.lower(), path.suffix.lstrip(".") or "plaintext")
