"""Savings everywhere: per request (the run's line, `$/routerls/status`) and cumulative
(`routerls report`, `routerls/spend`), always what the strongest tier would have cost for the
same tokens minus what was paid."""

from __future__ import annotations

import json

import pytest
from conftest import FIXED_LINES, ledger_rows
from modelserver import Reply

from routerls.cli import main
from routerls.ledger import Ledger, default_path
from routerls.money import money as _money
from routerls.server.status import SpendCache, spend_payload, status_payload

FIXED = FIXED_LINES
FRONTIER = (2.5, 10.0)  # the project fixture's frontier price per million tokens


def test_saved_per_request_and_cumulative_in_report(project, model_server, capsys):
    model_server.script(Reply(f"```python\n{FIXED}```", prompt_tokens=1000, completion_tokens=100),
                        model="gpt-4o-mini")
    model_server.script(Reply("## design\n\nA plan.", prompt_tokens=500, completion_tokens=50),
                        model="gpt-4.1")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    assert main(["run", "design", "sample.py:3-3"]) == 0
    out = capsys.readouterr().out
    rows = ledger_rows()
    cheap = next(r for r in rows if r.tier == "cheap")
    per_request = (1000 * FRONTIER[0] + 100 * FRONTIER[1]) / 1e6 - cheap.cost_usd
    assert per_request > 0
    assert f"saved {_money(per_request)}" in out  # the run's own line
    assert f"saved {_money(0.0)}" in out  # the frontier run saved nothing

    assert main(["report", "--by", "model", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_model = {r["key"]: r["saved_usd"] for r in report["rows"]}
    assert by_model["gpt-4o-mini"] == pytest.approx(per_request, abs=1e-12)
    assert by_model["gpt-4.1"] == pytest.approx(0.0, abs=1e-12)
    with Ledger(default_path()) as ledger:
        cumulative = ledger.spend(None).saved_usd
    assert cumulative == pytest.approx(per_request, abs=1e-12)

    assert main(["report"]) == 0
    assert f"saved {_money(cumulative)} vs always-frontier" in capsys.readouterr().out


def test_status_is_per_request_and_spend_is_cumulative(project, model_server, capsys):
    model_server.script(Reply(f"```python\n{FIXED}```", prompt_tokens=1000, completion_tokens=100),
                        Reply(f"```python\n{FIXED}```", prompt_tokens=2000, completion_tokens=100),
                        model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    assert main(["run", "fix", "sample.py:3-9"]) == 0  # another process: another session
    rows = ledger_rows()
    saved = [r.counterfactual_usd - r.cost_usd for r in rows]
    assert len({r.session for r in rows}) == 2 and all(s > 0 for s in saved)
    with Ledger(default_path()) as ledger:
        cache = SpendCache.of(ledger.spend(rows[-1].session))
    # `routerls/spend`: all-time savings, across sessions
    assert spend_payload(cache, 2.0, 20.0)["savedUsd"] == pytest.approx(sum(saved), abs=1e-12)
    # `$/routerls/status`: this request's savings only
    status = status_payload("done", action="fix", task="fix", tier="cheap", model="gpt-4o-mini",
                            reason="", spend=cache, cost_usd=rows[-1].cost_usd, saved_usd=saved[-1])
    assert status["savedUsd"] == pytest.approx(saved[-1]) and status["savedUsd"] < cache.saved_usd
