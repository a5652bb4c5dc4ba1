"""Hover ranges in the client's negotiated position encoding: columns after emoji and CJK text
count UTF-8 bytes for a client that asked for `utf-8` and UTF-16 units otherwise, and the range
is the word under the cursor, not the first word like it on the line. The explanation is asked
for that same range, so the model sees the hovered word as its selection."""

from __future__ import annotations

import pytest
import pytest_asyncio
from lsprotocol import types as T
from pytest_lsp import client_capabilities
from server_session import Reply, Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

# `area` twice on a line that holds a skin-toned emoji (two code points, four UTF-16 units,
# eight UTF-8 bytes) and CJK text (three UTF-8 bytes a character) before it
BEFORE = 'label = "👋🏽 世界"; r = '
LINE = f"{BEFORE}area(2)  # area"
SOURCE = f"{LINE}\nprint(r)\n"
EXPLAINED = "`area` is the area of a circle."


def _columns(text: str, encoding: str) -> int:
    """Code units of `text` in `encoding`, counted by Python's codecs (not by routerls)."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["utf-8", "utf-16"])
async def session(request, tmp_path_factory):
    caps = client_capabilities("neovim@v0.10.0")
    caps.general = T.GeneralClientCapabilities(position_encodings=[T.PositionEncodingKind(request.param)])
    s = await start_session(tmp_path_factory.mktemp(f"hover-{request.param}"), capabilities=caps,
                            initialization_options={"hover": {"explain": True}})
    s.encoding = request.param
    yield s
    await s.stop()


async def _hover(session: Session, uri: str, column: int) -> T.Hover | None:
    return await session.client.text_document_hover_async(T.HoverParams(
        text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(0, column)))


async def test_the_hover_range_counts_columns_in_the_negotiated_encoding(session: Session):
    assert session.init_result.capabilities.position_encoding == session.encoding
    uri = session.open("hover_encoding.py", SOURCE)
    session.models.reset()
    session.models.script(Reply(text=EXPLAINED), model="gpt-4o-mini")
    start = _columns(BEFORE, session.encoding)
    end = _columns(BEFORE + "area", session.encoding)
    assert start != len(BEFORE)  # the line really counts differently from Python's indexes

    hover = await _hover(session, uri, start + 2)  # the cursor inside `area`
    assert hover is not None and hover.contents.value == EXPLAINED
    assert hover.range == T.Range(T.Position(0, start), T.Position(0, end))
    assert "Selection (line 1):\n```python\narea\n```" in session.models.requests[-1].last_user

    # the cursor on the word's last character, then just past it, gives the same word
    for column in (end - 1, end):
        again = await _hover(session, uri, column)
        assert again is not None and again.range == hover.range
    # the `area` in the comment is a range of its own (its explanation comes from the cache)
    calls = len(session.models.requests)
    comment = _columns(BEFORE + "area(2)  # ", session.encoding)
    second = await _hover(session, uri, comment + 1)
    assert second is not None and second.contents.value == EXPLAINED
    assert second.range == T.Range(T.Position(0, comment), T.Position(0, comment + 4))
    assert len(session.models.requests) == calls
