"""Verify and escalate, in the engine alone: an answer its checks reject is not applied, the
next stronger tier is asked (with a budget hold of its own), and the climb stops at
`escalate.max_steps` or where the budget cannot take the stronger tier."""

from __future__ import annotations

import pytest
from engine_setup import BROKEN, REFACTORED, SOURCE, fenced, make_engine, request, rows_of
from fake_gateway import Answer, Fail

from routerls.edits import apply_edits


async def test_a_rejected_answer_escalates_to_the_next_stronger_tier(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced(BROKEN)))
    fake.script("openai/mid-a", Answer(fenced(REFACTORED)))
    held: list[float] = []
    fake.during_call = lambda: held.append(ledger.held())
    result = await engine.run(request(tmp_path))
    assert result.outcome == "ok", result.message
    assert (result.tier, result.model.model) == ("mid", "openai/mid-a")
    assert "width * height" in apply_edits(SOURCE, result.edit.edits)
    # cheap-b is passed over: a rejected answer climbs a tier, it does not ask the same tier again
    assert fake.chains[1] == [("mid", "openai/mid-a"), ("frontier", "openai/frontier-a")]
    assert held[1] > held[0] > 0  # the escalation holds its own estimate beside the request's
    assert "cheap-a's answer was rejected (model output is not valid Python" in result.message
    assert "escalated to mid" in result.message
    rows = ledger.rows()
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "bad_output"), ("mid", "openai/mid-a", "ok")]
    assert rows[0].error.startswith("model output is not valid Python")
    assert rows[0].cost_usd > 0  # a rejected answer is still paid for
    assert ledger.held() == 0 and engine.reserved == {}


async def test_an_answer_its_checks_reject_escalates_with_what_they_said(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced("import os\n" + REFACTORED)))  # a new F401
    fake.script("openai/mid-a", Answer(fenced(REFACTORED)))
    result = await engine.run(request(tmp_path))
    assert result.outcome == "ok" and result.model.model == "openai/mid-a", result.message
    rows = ledger.rows()
    assert [r.outcome for r in rows] == ["bad_output", "ok"]
    assert "F401" in rows[0].error and "F401" in result.message
    assert rows[0].checks and rows[1].checks == "ruff: no new findings"


async def test_max_steps_bounds_the_climb_and_nothing_is_applied(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced(BROKEN)))
    fake.script("openai/mid-a", Answer(fenced(BROKEN)))
    result = await engine.run(request(tmp_path))
    assert result.outcome == "error" and result.edit is None
    assert result.message.endswith("not applied after 2 tries (escalate.max_steps is 1)")
    assert fake.models_asked() == [("cheap", "openai/cheap-a"), ("mid", "openai/mid-a")]
    assert [r.outcome for r in ledger.rows()] == ["bad_output", "bad_output"]
    assert ledger.held() == 0


async def test_escalation_off_for_the_task_stops_at_the_first_rejection(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, "escalate: {max_steps: 2, tasks: {refactor: 0}}\n",
                                       refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced(BROKEN)))
    result = await engine.run(request(tmp_path))
    assert result.outcome == "error" and result.message.endswith("; not applied")
    assert fake.models_asked() == [("cheap", "openai/cheap-a")]
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "bad_output")]


async def test_no_escalation_the_budget_cannot_take(tmp_path):
    # the cheap estimate fits the day's budget; mid's, beside what the request holds, does not
    engine, fake, ledger = make_engine(
        tmp_path, "budgets: {daily_usd: 0.003, monthly_usd: 50.0, on_exceed: downgrade}\n",
        refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced(BROKEN)))
    fake.script("openai/mid-a", Answer(fenced(REFACTORED)))
    result = await engine.run(request(tmp_path))
    assert result.plan.decision.tier == "cheap" and not result.plan.decision.blocked
    assert result.outcome == "error" and result.edit is None
    assert "not escalated to mid-a (mid): the budget cannot take it" in result.message
    assert fake.models_asked() == [("cheap", "openai/cheap-a")]
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "bad_output")]
    assert ledger.held() == 0 and engine.reserved == {}


@pytest.mark.parametrize("tier", ["cheap", "mid"])
async def test_a_pinned_tier_escalates_within_itself_only(tmp_path, tier):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/cheap-a", Answer(fenced(BROKEN)))
    fake.script("openai/cheap-b", Answer(fenced(REFACTORED)))
    fake.script("openai/mid-a", Answer(fenced(BROKEN)))
    result = await engine.run(request(tmp_path, tier=tier))
    if tier == "cheap":  # the pinned tier's next model gets the request
        assert result.outcome == "ok" and result.model.model == "openai/cheap-b"
        assert "escalated to cheap" in result.message
        assert rows_of(ledger) == [("cheap", "openai/cheap-a", "bad_output"),
                                   ("cheap", "openai/cheap-b", "ok")]
    else:  # nothing left in the pinned tier
        assert result.outcome == "error" and result.message.endswith("no model left to try")
        assert fake.models_asked() == [("mid", "openai/mid-a")]
        assert rows_of(ledger) == [("mid", "openai/mid-a", "bad_output")]


async def test_the_rejections_checks_stay_recorded_when_every_stronger_model_then_fails(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, refactor="cheap")
    fake.script("openai/cheap-a", Answer(fenced("import os\n" + REFACTORED)))  # a new F401
    fake.script("openai/mid-a", Fail("server_error", "HTTP 500"))
    fake.script("openai/frontier-a", Fail("server_error", "HTTP 500"))
    result = await engine.run(request(tmp_path))
    assert result.outcome == "error" and "every model failed" in result.message
    rows = ledger.rows()
    assert [r.outcome for r in rows] == ["bad_output", "server_error", "server_error"]
    assert "F401" in rows[0].error and rows[0].checks  # what rejected it, not lost with the failure
    assert ledger.held() == 0 and engine.reserved == {}
