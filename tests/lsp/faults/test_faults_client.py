"""The editor misbehaves: it closes the document mid-run, fires the same action twice, or never
answers `workspace/applyEdit`."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types as T
from server_session import Reply, Session

from .matrix import EXPECTED, FIXED, SLOW, SOURCE, _args, _consistent

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_document_closed_while_its_action_runs_is_not_edited(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED, **SLOW), model="gpt-4o")
    uri = session.open("closed.py", SOURCE)
    run = asyncio.create_task(session.run(_args(uri)))
    await session.until_streaming()
    session.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri=uri)))
    result = await asyncio.wait_for(run, 15)
    assert result["state"] == "error" and not result["applied"], result
    assert "was closed" in result["message"] and "reapply" in result["message"]
    assert len([a for a in session.applied if a.edit.document_changes[0].text_document.uri == uri]) == 0
    _consistent(session, result, ["ok"])  # the model was paid for: recorded
    # reopened, the kept result can still be applied
    session.open("closed.py", SOURCE)
    again = await session.run({"reapply": result["requestId"]})
    assert again["state"] == "done", again
    assert session.text(uri) == EXPECTED


async def test_same_action_fired_twice_quickly_edits_once(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED, chunks=4, chunk_delay=0.1),
                          Reply(text=FIXED, chunks=4, chunk_delay=0.2), model="gpt-4o")
    uri = session.open("twice.py", SOURCE)
    results = await asyncio.wait_for(asyncio.gather(session.run(_args(uri)), session.run(_args(uri))), 20)
    assert sorted(r["state"] for r in results) == ["done", "error"], results
    assert session.text(uri) == EXPECTED  # `return 22`, not `return 222`
    refused = next(r for r in results if r["state"] == "error")
    assert "not applied" in refused["message"] or "did not apply" in refused["message"]
    for r in results:
        _consistent(session, r, ["ok"])


async def test_client_that_never_answers_apply_edit(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED), model="gpt-4o")
    uri = session.open("silent.py", SOURCE)
    session.apply_mode = "never"
    try:
        started = time.monotonic()
        result = await asyncio.wait_for(session.run(_args(uri)), 15)
    finally:
        session.apply_mode = "apply"
    assert result["state"] == "error" and result["message"] == "client did not answer applyEdit"
    assert time.monotonic() - started < 8
    assert session.text(uri) == SOURCE
    _consistent(session, result, ["ok"])
    assert await session.code_actions(uri, T.Range(T.Position(0, 0), T.Position(1, 0)))
