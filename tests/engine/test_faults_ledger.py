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


def test_ledger_locked_past_its_timeout_keeps_the_answer_and_warns(project, model_server):
    model_server.default("```python\ndef second():\n    return 22\n```")
    ledger = Ledger(default_path(), busy_timeout_s=0.2)
    engine = Engine(load_config(project), ledger)
    holder = sqlite3.connect(default_path(), isolation_level=None, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = asyncio.run(engine.run(RunRequest(
            action="refactor", path=str(project / "app.py"), text=SOURCE, range=Range.of(0, 0, 2, 0))))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.outcome == "ok" and result.edit.edits
    assert engine.ledger_warning and "spend not recorded" in engine.ledger_warning
    assert str(default_path()) in engine.ledger_warning and "locked" in engine.ledger_warning
    assert engine.reserved == {}  # the reservation is settled even though the write failed
    assert ledger.rows() == []  # nothing half-written


def test_a_tools_tier_run_with_a_locked_ledger_keeps_its_edit_and_warns(project):
    """The tools tier (ruff formats Python) writes its own row; that write failing must not
    cost the edit either (it raised out of the run before)."""
    ledger = Ledger(default_path(), busy_timeout_s=0.2)
    engine = Engine(load_config(project), ledger)
    holder = sqlite3.connect(default_path(), isolation_level=None, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = asyncio.run(engine.run(RunRequest(
            action="format", path=str(project / "app.py"), text="x = [1,2]\n", range=Range.of(0, 0, 1, 0))))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (result.outcome, result.tier) == ("ok", "tools") and result.edit.edits
    assert engine.ledger_warning and "spend not recorded" in engine.ledger_warning
    assert ledger.rows() == []
