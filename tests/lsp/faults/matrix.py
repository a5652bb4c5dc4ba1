"""What every fault file here shares: the document the faults are run on, the answer that fixes
it, and the check that a request's ledger rows
are one consistent set.

`refactor` routes to mid (`gpt-4o`); the chain falls back to frontier (`gpt-4-turbo`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types as T
from server_session import Reply, Session

SOURCE = """\
def first():
    return 1


def second():
    return 2
"""
FIXED = "```python\ndef second():\n    return 22\n```"
EXPECTED = SOURCE.replace("return 2\n", "return 22\n")
SECOND = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
SLOW = {"chunks": 10, "chunk_delay": 0.15}
BASE = {"gateway": {"timeout_s": 2, "retries": 1, "backoff_s": 0}}


def _args(uri: str, rng: dict | None = None, version: int = 1, action: str = "refactor") -> dict:
    return {"action": action, "uri": uri, "version": version, "range": rng or SECOND}


def _rows(session: Session, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in session.ledger_rows() if r["request_id"] == result["requestId"]]


def _consistent(session: Session, result: dict[str, Any], outcomes: list[str] | None = None) -> list[dict]:
    """The request's rows: numbered 0.. in order, costs adding up to what the run reported."""
    rows = _rows(session, result)
    assert rows, f"no ledger rows for {result}"
    assert [r["fallback_index"] for r in rows] == list(range(len(rows)))
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(result["costUsd"])
    if outcomes is not None:
        assert [r["outcome"] for r in rows] == outcomes
    if result["state"] == "done":
        assert rows[-1]["outcome"] == "ok" and all(r["outcome"] != "ok" for r in rows[:-1])
    return rows


async def _run_fault(session: Session, name: str, *replies: Reply, fallback: str | None = FIXED,
                     text: str = SOURCE) -> tuple[str, dict[str, Any]]:
    session.models.reset()
    session.models.script(*replies, model="gpt-4o")
    if fallback is not None:
        session.models.script(Reply(text=fallback), model="gpt-4-turbo")
    uri = session.open(name, text)
    result = await asyncio.wait_for(session.run(_args(uri)), 30)
    return uri, result


def _configure(session: Session, extra: dict | None = None) -> None:
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": {**BASE, **(extra or {})}}))
