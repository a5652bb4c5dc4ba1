"""Hover explanations (cached by content), and the edit-on-resolve path for editors that
cannot take `workspace/applyEdit`."""

from __future__ import annotations

import time

import pytest
import pytest_asyncio
from lsprotocol import types as T
from pytest_lsp import client_capabilities
from server_session import Reply, Session, _apply_text, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = "def area(r):\n    return 3.14159 * r * r\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    caps = client_capabilities("neovim@v0.10.0")
    caps.workspace.apply_edit = False
    s = await start_session(tmp_path_factory.mktemp("hover"), capabilities=caps,
                            initialization_options={"hover": {"explain": True}})
    yield s
    await s.stop()


async def test_hover_explains_and_a_repeat_hover_costs_nothing(session: Session):
    uri = session.open("hover.py", SOURCE)
    session.models.script(Reply(text="`area` is the area of a circle.", prompt_tokens=90, completion_tokens=9),
                          model="gpt-4o-mini")
    params = T.HoverParams(text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(0, 5))
    first = await session.client.text_document_hover_async(params)
    assert first.contents.kind == T.MarkupKind.Markdown
    assert first.contents.value == "`area` is the area of a circle."
    status = await session.wait_status("done")
    assert (status["action"], status["tier"], status["model"]) == ("explain", "cheap", "gpt-4o-mini")
    calls = len(session.models.requests)
    started = time.monotonic()
    again = await session.client.text_document_hover_async(params)
    assert again.contents.value == first.contents.value
    assert time.monotonic() - started < 0.5
    assert len(session.models.requests) == calls  # cached: no model call


async def test_without_apply_edit_the_action_carries_its_edit_on_resolve(session: Session):
    uri = session.open("resolve.py", SOURCE)
    whole = T.Range(T.Position(0, 0), T.Position(2, 0))
    offered = {a.data["action"]: a for a in await session.code_actions(uri, whole)}
    action = offered["refactor"]
    assert action.command is None and action.edit is None
    session.models.script(Reply(text="```python\ndef area(r):\n    return 3.14159 * r**2\n```"), model="gpt-4o")
    resolved = await session.client.code_action_resolve_async(action)
    change = resolved.edit.document_changes[0]
    assert change.text_document.uri == uri and change.text_document.version == 1
    assert _apply_text(SOURCE, change.edits) == "def area(r):\n    return 3.14159 * r**2\n"
    assert session.text(uri) == SOURCE  # the editor applies it, not the server
