"""The ledger file under the server: locked by another process, or corrupt; and, last in the
matrix, one consistent set of rows for every request the matrix made."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from lsprotocol import types as T
from server_session import Reply, Session, start_session

from .matrix import EXPECTED, FIXED, SOURCE, _args, _consistent

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_locked_ledger_waits_for_the_lock_and_records(session: Session):
    db = sqlite3.connect(session.data / "ledger.sqlite3", isolation_level=None, timeout=5)
    db.execute("BEGIN EXCLUSIVE")
    try:
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("locked.py", SOURCE)
        run = asyncio.create_task(session.run(_args(uri)))
        await asyncio.sleep(1.5)
        assert not run.done()  # the row waits for the lock; nothing is lost or half-written
    finally:
        db.execute("ROLLBACK")
        db.close()
    result = await asyncio.wait_for(run, 15)
    assert result["state"] == "done" and session.text(uri) == EXPECTED
    _consistent(session, result, ["ok"])


@pytest.mark.slow
async def test_corrupt_ledger_file_warns_and_actions_still_work(tmp_path):
    (tmp_path / "data").mkdir()
    ledger = tmp_path / "data" / "ledger.sqlite3"
    garbage = b"this is not a database\x00" * 200
    ledger.write_bytes(garbage)
    s = await start_session(tmp_path)
    try:
        s.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = s.open("corrupt.py", SOURCE)
        result = await asyncio.wait_for(s.run(_args(uri)), 20)
        assert result["state"] == "done" and s.text(uri) == EXPECTED, result
        warnings = [m.message for m in s.client.messages if m.type == T.MessageType.Warning]
        assert any("spend is not recorded" in m and str(ledger) in m and "corrupt" in m for m in warnings)
        assert ledger.read_bytes() == garbage  # left for the user to inspect, never overwritten
    finally:
        await s.stop()


async def test_the_ledger_is_consistent_after_the_matrix(session: Session):
    rows = session.ledger_rows()
    assert rows
    by_request: dict[str, list[dict]] = {}
    for r in rows:
        by_request.setdefault(r["request_id"], []).append(r)
    for request_rows in by_request.values():
        assert [r["fallback_index"] for r in request_rows] == list(range(len(request_rows)))
        assert sum(r["outcome"] == "ok" for r in request_rows) <= 1
        assert all(r["cost_usd"] >= 0 and r["input_tokens"] >= 0 for r in request_rows)
        assert all(r["prompt"] is None for r in request_rows)  # ledger.store_prompts is off
