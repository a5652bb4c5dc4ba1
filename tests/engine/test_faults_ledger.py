"""A ledger that cannot be written must not cost the user the answer they paid for: the edit is
still returned, and the engine says spend was not recorded."""

from __future__ import annotations

import asyncio
import sqlite3

from routerls.engine import Engine
from routerls.layers import load_config
from routerls.ledger import Ledger, default_path
from routerls.request import RunRequest
from routerls.text import Range

SOURCE = "def second():\n    return 2\n"


def _run_with_the_ledger_locked(project, action: str, text: str, lines: int):
    """One run while another connection holds the ledger locked past the engine's busy timeout."""
    ledger = Ledger(default_path(), busy_timeout_s=0.2)
    engine = Engine(load_config(project), ledger)
    holder = sqlite3.connect(default_path(), isolation_level=None, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = asyncio.run(engine.run(RunRequest(
            action=action, path=str(project / "app.py"), text=text, range=Range.of(0, 0, lines, 0))))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    return result, engine, ledger


def test_ledger_locked_past_its_timeout_keeps_the_answer_and_warns(project, model_server):
    model_server.default("```python\ndef second():\n    return 22\n```")
    result, engine, ledger = _run_with_the_ledger_locked(project, "refactor", SOURCE, 2)
    assert result.outcome == "ok" and result.edit.edits
    assert engine.ledger_warning and "spend not recorded" in engine.ledger_warning
    assert str(default_path()) in engine.ledger_warning and "locked" in engine.ledger_warning
    assert engine.reserved == {}  # the reservation is settled even though the write failed
    assert ledger.rows() == []  # nothing half-written


def test_a_tools_tier_run_with_a_locked_ledger_keeps_its_edit_and_warns(project):
    """The tools tier (ruff formats Python) writes its own row; that write failing must not
    cost the edit either (it raised out of the run before)."""
    result, engine, ledger = _run_with_the_ledger_locked(project, "format", "x = [1,2]\n", 1)
    assert (result.outcome, result.tier) == ("ok", "tools") and result.edit.edits
    assert engine.ledger_warning and "spend not recorded" in engine.ledger_warning
    assert ledger.rows() == []
