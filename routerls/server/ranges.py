"""Ranges between the wire and `text.py`: one place converts JSON and lsprotocol ranges to
`text.Range` and back, so handlers compare and pass ranges of one type."""

from __future__ import annotations

from typing import Any

from lsprotocol import types as T

from routerls.text import Position, Range


def to_range(value: Any) -> Range:
    """An LSP range from JSON; TypeError unless every number is an integer."""
    def num(v: Any) -> int:
        if type(v) is not int:
            raise TypeError(f"expected an integer, got {type(v).__name__}")
        return v

    s, e = value["start"], value["end"]
    return Range(Position(num(s["line"]), num(s["character"])), Position(num(e["line"]), num(e["character"])))


def range_json(r: T.Range | Range) -> dict[str, Any]:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


def from_lsp(r: T.Range) -> Range:
    return Range.of(r.start.line, r.start.character, r.end.line, r.end.character)


def to_lsp(r: Range) -> T.Range:
    return T.Range(T.Position(r.start.line, r.start.character), T.Position(r.end.line, r.end.character))
