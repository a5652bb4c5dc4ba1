"""The word a hover explains, and its range in each position encoding (no server)."""

from __future__ import annotations

import pytest

from routerls.server.hover import word_at
from routerls.text import Range

LINE = 'label = "👋🏽 世界"; r = area(2)  # area'
BEFORE = 'label = "👋🏽 世界"; r = '


@pytest.mark.parametrize(("encoding", "start"), [("utf-8", len(BEFORE.encode())),
                                                 ("utf-16", len(BEFORE.encode("utf-16-le")) // 2),
                                                 ("utf-32", len(BEFORE))])
def test_the_word_under_the_cursor_in_each_encoding(encoding: str, start: int):
    for column in (start, start + 2, start + 4):  # its first character, its middle, just past it
        assert word_at(LINE, 3, column, encoding) == ("area", Range.of(3, start, 3, start + 4))


def test_the_word_under_the_cursor_not_the_first_like_it():
    column = len(LINE.encode("utf-16-le")) // 2 - 2
    word, rng = word_at(LINE, 0, column, "utf-16")
    assert word == "area" and rng.start.character == column - 2


def test_off_a_word_there_is_none():
    assert word_at(LINE, 0, len("label "), "utf-16") is None
    assert word_at("", 0, 0, "utf-8") is None


def test_a_column_past_the_line_is_its_last_word():
    assert word_at("x = total", 0, 99, "utf-16") == ("total", Range.of(0, 4, 0, 9))
