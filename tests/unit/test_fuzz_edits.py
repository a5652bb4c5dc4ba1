"""Property tests for `edits.py`: whatever the text, range, encoding and answer, the minimal edits
applied to the original give exactly the intended text, and never reach outside the range."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routerls.edits import apply_edits, minimal_edits, rebase_edits
from routerls.text import Range, line_starts, offset_of, position_of

# ASCII code, whitespace, every line ending, and characters that are 2 or 4 bytes in UTF-8 and
# 2 code units in UTF-16 (emoji), plus a combining mark
ALPHABET = st.sampled_from(list("ab_ (){}=:;.,\t") + ["\n", "\r\n", "\r", "é", "世", "👋", "🏽", "\u0301"])
TEXT = st.lists(ALPHABET, max_size=60).map("".join)
ENCODINGS = st.sampled_from(["utf-16", "utf-8", "utf-32"])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _boundary(text: str, offset: int) -> int:
    """An offset an editor can name: never between the \\r and \\n of a CRLF."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset - 1
    return offset


@st.composite
def documents(draw):
    text = draw(TEXT)
    a = _boundary(text, draw(st.integers(0, len(text))))
    b = _boundary(text, draw(st.integers(a, len(text))))
    return text, a, max(a, b)


@FUZZ
@given(documents(), TEXT, ENCODINGS)
def test_minimal_edits_yield_exactly_the_intended_text(doc, new, encoding):
    text, a, b = doc
    starts = line_starts(text)
    rng = Range(position_of(text, a, encoding, starts), position_of(text, b, encoding, starts))
    assert (offset_of(text, rng.start, encoding), offset_of(text, rng.end, encoding)) == (a, b)
    edits = minimal_edits(text, rng, new, encoding)
    assert apply_edits(text, edits, encoding) == text[:a] + new + text[b:]
    for e in edits:  # inside the range, and in order
        assert rng.start <= e.range.start <= e.range.end <= rng.end
    assert [e.range.start for e in edits] == sorted(e.range.start for e in edits)
    if text[a:b] == new:
        assert edits == ()


@FUZZ
@given(documents(), TEXT, st.lists(st.sampled_from(["# typed", "#", "# 世界 👋"]), min_size=1, max_size=3),
       ENCODINGS)
def test_rebased_edits_apply_to_the_moved_document(doc, new, typed, encoding):
    """Lines typed above the range while the model works: the rebased edits still give the
    intended text, shifted (or the rebase declines, and nothing is applied). The typed lines start
    with `#`, which the documents never contain, so where they went is unambiguous."""
    text, a, b = doc
    if a == 0:
        return  # typing exactly where the range starts is ambiguous by nature
    prefix = "".join(line + "\n" for line in typed)
    starts = line_starts(text)
    rng = Range(position_of(text, a, encoding, starts), position_of(text, b, encoding, starts))
    edits = minimal_edits(text, rng, new, encoding)
    moved = prefix + text
    rebased = rebase_edits(text, moved, rng, edits, encoding)
    if rebased is not None:
        assert apply_edits(moved, rebased, encoding) == prefix + text[:a] + new + text[b:]
