"""The SQLite ledger: rows, spend by local day/month/session, reports, migrations, sharing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from routerls.backends.litellm import Attempt
from routerls.ledger import (
    Ledger,
    LedgerError,
    LedgerRow,
    Spend,
    default_path,
)
from routerls.ledger_schema import SCHEMA_VERSION
from routerls.spend_report import ReportRow, report

NOW = datetime(2025, 3, 15, 12, 0).astimezone()  # local noon, mid-month


def row(cost: float, *, ts: datetime = NOW, session: str = "s1", model: str = "openai/gpt-4o-mini",
        action: str = "fix", counterfactual: float = 0.0, request_id: str = "r1", **kw) -> LedgerRow:
    return LedgerRow(request_id=request_id, session=session, action=action, task=action,
                     tier="cheap", model=model, input_tokens=100, output_tokens=10, cost_usd=cost,
                     counterfactual_usd=counterfactual, ts=ts, **kw)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        yield led


def test_default_path_follows_routerls_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLS_DATA_DIR", str(tmp_path / "d"))
    assert default_path() == tmp_path / "d" / "ledger.sqlite3"
    with Ledger() as led:
        assert led.path.is_file()


def test_records_rows_and_reads_them_back(ledger):
    first = row(0.001, counterfactual=0.01, latency_ms=12.5, error=None)
    second = row(0.0, outcome="rate_limited", error="429", fallback_index=1, estimated=True,
                 request_id="r2", prompt="secret code")
    ledger.record([first, second])
    got = ledger.rows()
    assert [r.id for r in got] == [1, 2]
    assert got[0].cost_usd == 0.001 and got[0].ts == NOW and got[0].ts.tzinfo is not None
    assert got[1].estimated is True and got[1].fallback_index == 1 and got[1].outcome == "rate_limited"
    assert got[1].prompt is None  # not stored unless store_prompts
    assert [r.request_id for r in ledger.rows("r2")] == ["r2"]


def test_prompts_kept_only_when_asked(tmp_path):
    with Ledger(tmp_path / "l.sqlite3", store_prompts=True) as led:
        led.record([row(0.0, prompt="def f(): ...")])
        assert led.rows()[0].prompt == "def f(): ..."


def test_rows_from_gateway_attempts():
    attempts = (Attempt("cheap", "a", "rate_limited", "429", 5.0),
                Attempt("cheap", "a", "ok", None, 50.0, 1000, 100, 0.0002))
    rows = LedgerRow.from_attempts(attempts, request_id="q", session="s", action="fix",
                                   task="fix", counterfactual=lambda i, o: (i + o) / 1e5,
                                   estimated=True)
    assert [(r.fallback_index, r.outcome, r.estimated) for r in rows] == [
        (0, "rate_limited", False), (1, "ok", True)]
    assert rows[0].counterfactual_usd == 0.0 and rows[1].counterfactual_usd == pytest.approx(0.011)
    assert rows[1].saved_usd == pytest.approx(0.011 - 0.0002)


def test_spend_by_local_day_month_and_session(ledger):
    ledger.record([
        row(1.0, counterfactual=3.0),
        row(2.0, ts=NOW - timedelta(hours=11, minutes=59), session="s2"),  # still today
        row(4.0, ts=NOW - timedelta(days=3)),  # this month
        row(8.0, ts=NOW - timedelta(days=20)),  # last month
        row(16.0, ts=NOW + timedelta(days=1)),  # tomorrow counts as after today's start
    ])
    spend = ledger.spend("s1", now=NOW)
    assert spend == Spend(today_usd=19.0, month_usd=23.0, session_usd=29.0,
                          saved_usd=pytest.approx(3.0 - 31.0))
    assert ledger.spend(None, now=NOW).session_usd == 0.0


def test_spend_of_an_empty_ledger_is_zero(ledger):
    assert ledger.spend("s") == Spend(0.0, 0.0, 0.0, 0.0)


def test_reports_group_by_model_action_day_and_week(ledger):
    monday = datetime(2025, 3, 10, 9, 0).astimezone()
    ledger.record([
        row(1.0, ts=monday, model="m-cheap", action="fix", counterfactual=5.0),
        row(2.0, ts=monday + timedelta(days=1), model="m-mid", action="tests", counterfactual=2.0),
        row(3.0, ts=monday + timedelta(days=7), model="m-mid", action="fix", counterfactual=4.0),
    ])
    by_model = report(ledger, "model")
    assert by_model == [ReportRow("m-mid", 2, 200, 20, 5.0, 6.0, pytest.approx(1.0)),
                        ReportRow("m-cheap", 1, 100, 10, 1.0, 5.0, 4.0)]
    assert [(r.key, r.calls) for r in report(ledger, "action")] == [("fix", 2), ("tests", 1)]
    assert [(r.key, r.cost_usd) for r in report(ledger, "day")] == [
        ("2025-03-10", 1.0), ("2025-03-11", 2.0), ("2025-03-17", 3.0)]
    assert [(r.key, r.calls) for r in report(ledger, "week")] == [("2025-W11", 2), ("2025-W12", 1)]
    assert [r.key for r in report(ledger, "day", since=date(2025, 3, 11))] == [
        "2025-03-11", "2025-03-17"]
    with pytest.raises(ValueError):
        report(ledger, "tier")  # type: ignore[arg-type]


def test_schema_is_versioned_and_wal(ledger):
    db = sqlite3.connect(ledger.path)
    assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    Ledger(ledger.path).close()  # reopening migrates nothing twice
    db = sqlite3.connect(ledger.path)
    assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION  # one row a step
    db.close()


def test_a_v1_ledger_gains_the_checks_column_and_keeps_its_rows(tmp_path):
    from routerls.ledger_schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    MIGRATIONS[1](db)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO calls (request_id, ts, session, action, task, tier, model, outcome) "
               "VALUES ('r', '2025-01-01T00:00:00.000000+00:00', 's', 'fix', 'fix', 'mid', 'm', 'ok')")
    db.close()
    with Ledger(path) as ledger:
        old, = ledger.rows()
        assert (old.request_id, old.checks) == ("r", None)
        ledger.record([LedgerRow(request_id="n", session="s", action="fix", task="fix", tier="mid",
                                 model="m", checks="ruff: no new findings · 2 tests passed in 0.3 s")])
        assert ledger.rows("n")[0].checks == "ruff: no new findings · 2 tests passed in 0.3 s"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (99)")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="v99 is newer"):
        Ledger(path)


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert str(path) in str(caught.value) and "corrupt" in str(caught.value)


def test_locked_file_names_the_path(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    led = Ledger(path, busy_timeout_s=0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerError) as caught:
            led.record([row(1.0)])
        assert str(path) in str(caught.value) and "locked" in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        led.close()


def test_two_processes_writing_at_once(tmp_path):
    path = tmp_path / "shared.sqlite3"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from routerls.ledger import Ledger, LedgerRow
        led = Ledger({str(path)!r})
        while not Path({str(tmp_path / "go")!r}).exists():  # start writing together
            time.sleep(0.005)
        for i in range(200):
            led.record([LedgerRow(request_id=f"{{sys.argv[1]}}-{{i}}", session=sys.argv[1],
                                  action="fix", task="fix", tier="cheap", model="m",
                                  cost_usd=0.001)])
        led.close()
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=env,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    time.sleep(0.3)
    (tmp_path / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with Ledger(path) as led:
        rows = led.rows()
        assert len(rows) == 400
        assert {r.session for r in rows} == {"a", "b"}
        assert led.spend("a").session_usd == pytest.approx(0.2)


def test_timestamps_are_stored_as_utc_iso(ledger):
    ledger.record([row(0.0, ts=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))])
    db = sqlite3.connect(ledger.path)
    assert db.execute("SELECT ts FROM calls").fetchone()[0] == "2025-01-02T03:04:05.000000+00:00"
    db.close()
