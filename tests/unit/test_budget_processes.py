"""Budgets across processes: reservations live in the ledger, taken in the same transaction as
the budget check, so ten `routerls run` processes at once cannot all fit one daily budget; a
v1 ledger gains the table on open; a crashed process's hold is freed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from modelserver import Reply

from routerls.context import gather
from routerls.ledger import Ledger, LedgerRow, _now, default_path
from routerls.router import Spend
from routerls.text import Range

SOURCE = "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
FIXED = "```python\ndef second():\n    return 22\n```"
PRICE = 100.0  # $ per million tokens, in and out
N = 10


def _config(url: str, daily: float) -> str:
    def model(name: str) -> str:
        return (f'{{model: openai/{name}, api_base: "{url}", '
                f'price: {{input_per_mtok: {PRICE}, output_per_mtok: {PRICE}}}}}')

    return (f"tiers:\n  mid: {{models: [{model('gpt-4o')}]}}\n  frontier: {{models: [{model('gpt-4.1')}]}}\n"
            "tasks: {fix: mid, explain: mid, docstring: mid, format: mid, tests: mid, refactor: mid, design: mid}\n"
            f"budgets: {{daily_usd: {daily}, monthly_usd: 1000, on_exceed: block}}\n"
            "gateway: {timeout_s: 30, retries: 0, backoff_s: 0}\nescalate: {max_steps: 0}\n")


@pytest.mark.slow
def test_ten_cli_processes_at_once_spend_at_most_the_budget_plus_one_request(project, model_server):
    tokens_in = gather(SOURCE, Range.of(4, 0, 6, 0), path=str(project / "m0.py"), language_id="python").tokens
    tokens_out = max(256, tokens_in // 2)
    cost = (tokens_in + tokens_out) * PRICE / 1e6  # the estimate the router makes, and the real cost
    budget = 3.5 * cost  # room for three
    (project / "routerls.yaml").write_text(_config(model_server.url, budget))
    for i in range(N):
        (project / f"m{i}.py").write_text(SOURCE)
    # slow answers: every process routes before any has recorded its cost
    model_server.default(Reply(text=FIXED, chunks=5, chunk_delay=0.3, prompt_tokens=tokens_in,
                               completion_tokens=tokens_out))
    exe = Path(sys.executable).with_name("routerls")
    procs = [subprocess.Popen([str(exe), "run", "refactor", f"m{i}.py:5-6"],
                              cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(N)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    with Ledger(default_path()) as ledger:
        spent = sum(r.cost_usd for r in ledger.rows())
        assert ledger.held() == 0.0  # every hold settled
    called = len(model_server.requests)
    assert spent <= budget + cost, (spent, budget, outs)
    assert called == 3 and codes.count(0) == 3, (codes, outs)
    refused = [out for (out, _), code in zip(outs, codes, strict=True) if code != 0]
    assert refused and all("budget" in out and "refused" in out for out in refused), refused


def test_a_reservation_is_seen_by_another_connection_and_settled_by_record(tmp_path):
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as one, Ledger(path) as two:
        assert one.reserve("r1", "s1", lambda spend: 0.5) == 0.5
        seen: list[Spend] = []
        two.reserve("r2", "s2", lambda spend: seen.append(spend) or 0.25)
        assert seen[0].today_usd == 0.5  # the other process's hold counts as spent
        assert two.spend(held=True).today_usd == 0.75 and two.spend().today_usd == 0.0
        one.record([LedgerRow(request_id="r1", session="s1", action="fix", task="fix", tier="mid",
                              model="m", cost_usd=0.4)], release="r1")
        assert two.spend(held=True).today_usd == 0.4 + 0.25
        two.reserve("r2", "s2", lambda spend: 0.0)  # reserving again replaces; 0 holds nothing
        assert one.held() == 0.0


def test_holds_of_dead_processes_and_expired_holds_are_freed(tmp_path):
    path = tmp_path / "l.sqlite3"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    with Ledger(path) as ledger:
        ledger.reserve("crashed", "s", lambda spend: 1.0)
        ledger.reserve("stale", "s", lambda spend: 2.0, ttl_s=1, now=_now() - timedelta(seconds=5))
        db = sqlite3.connect(path)
        db.execute("UPDATE reservations SET pid = ? WHERE request_id = 'crashed'", (int(dead.stdout),))
        db.commit()
        db.close()
        assert ledger.held() == 1.0  # the stale one has expired already
        seen: list[Spend] = []
        ledger.reserve("new", "s", lambda spend: seen.append(spend) or 0.1)
        assert seen[0].today_usd == 0.0 and ledger.held() == 0.1


def test_a_v1_ledger_gains_reservations_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    from routerls.ledger_schema import _v1

    _v1(db)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO calls (request_id, ts, session, action, task, tier, model, cost_usd, outcome) "
               "VALUES ('old', ?, 's', 'fix', 'fix', 'mid', 'm', 0.3, 'ok')", (_now().isoformat(),))
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert [r.request_id for r in ledger.rows()] == ["old"]
        ledger.reserve("r", "s", lambda spend: 0.2)
        assert abs(ledger.spend(held=True).today_usd - 0.5) < 1e-9


def test_engine_reserve_rechecks_the_budget_on_everyones_spend(project, model_server):
    """`Engine._reserve(request_id, plan)` is the one entry point: it returns the plan as the
    budget lets it run now, and a second call for the same request replaces its hold (what an
    escalation to a stronger tier does before its call)."""
    import attrs

    from routerls.engine import Engine
    from routerls.layers import load_config
    from routerls.request import RunRequest
    from routerls.router import route
    from routerls.text import Range

    (project / "routerls.yaml").write_text(_config(model_server.url, 1.0))
    config = load_config(project)
    engine = Engine(config, Ledger(default_path()))
    req = RunRequest(action="refactor", path=str(project / "m.py"), text=SOURCE, range=Range.of(4, 0, 6, 0),
                     workspace_root=str(project))
    plan = engine.plan(req)
    held = engine._reserve("r1", plan)
    assert not held.decision.blocked and engine.ledger.held() == plan.decision.estimated_usd > 0
    stronger = attrs.evolve(plan, decision=route(config, "refactor", tokens=plan.context.tokens, tier="frontier"))
    engine._reserve("r1", stronger)
    assert engine.ledger.held() == stronger.decision.estimated_usd  # replaced, not added
    with Ledger(default_path()) as other:  # another process spends the rest of the day's budget
        other.reserve("elsewhere", "s2", lambda spend: 1.0 - spend.today_usd)
    refused = engine._reserve("r2", plan)
    assert refused.decision.blocked and "refused" in refused.decision.reason
    engine.holds.release(engine.ledger, "r1")
    assert abs(engine.ledger.held() - (1.0 - stronger.decision.estimated_usd)) < 1e-12
