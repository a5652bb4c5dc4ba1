"""The engine on its own, a scripted gateway at its edge: which model the route asks, falling
back past a model that fails, the ledger rows of a request, the budget hold and what settles
it, and a cancel."""

from __future__ import annotations

import asyncio

import pytest
from engine_setup import PRICES, REFACTORED, SOURCE, fenced, make_engine, request, rows_of
from fake_gateway import Answer, Fail, Hang

from routerls.edits import apply_edits

AFTER = SOURCE.replace("def area(w, h):\n    return w*h\n", REFACTORED)


def cost(model: str, tokens_in: int = 120, tokens_out: int = 30) -> float:
    price_in, price_out = PRICES[model]
    return (tokens_in * price_in + tokens_out * price_out) / 1e6


async def test_the_task_tier_answers_and_its_edit_lands(tmp_path):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/mid-a", Answer(fenced(REFACTORED)))
    seen: list[tuple[str, int]] = []
    result = await engine.run(request(tmp_path), on_progress=lambda m, t: seen.append((m, t)))
    assert result.outcome == "ok", result.message
    assert (result.plan.decision.tier, result.plan.decision.rule) == ("mid", "tasks.refactor")
    # not pinned: the chain goes on to the stronger tier, but only the first model is asked
    assert fake.chains == [[("mid", "openai/mid-a"), ("frontier", "openai/frontier-a")]]
    assert fake.models_asked() == [("mid", "openai/mid-a")]
    assert any("return w*h" in m["content"] for m in fake.asked[0].prompt)  # the selection is sent
    assert (result.tier, result.model.model) == ("mid", "openai/mid-a")
    assert apply_edits(SOURCE, result.edit.edits) == AFTER
    assert seen == [("mid-a", 30)]
    assert result.cost_usd == pytest.approx(cost("mid-a"))
    assert result.saved_usd == pytest.approx(cost("frontier-a") - cost("mid-a"))
    [row] = ledger.rows()
    assert (row.request_id, row.tier, row.model, row.outcome) == (
        result.request_id, "mid", "openai/mid-a", "ok")
    assert (row.input_tokens, row.output_tokens) == (120, 30)
    assert row.cost_usd == pytest.approx(cost("mid-a"))
    assert row.counterfactual_usd == pytest.approx(cost("frontier-a"))
    assert row.checks and "ruff" in row.checks  # what checked the answer is kept with it


async def test_a_tag_pins_its_tier_and_leaves_the_prompt(tmp_path):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/cheap-a", Answer(fenced(REFACTORED)))
    result = await engine.run(request(tmp_path, instruction="@fast rename to width and height"))
    assert result.outcome == "ok", result.message
    d = result.plan.decision
    assert (d.tier, d.rule, d.pinned, d.reason) == ("cheap", "tag", True, "your tag asks for cheap")
    assert fake.chains == [[("cheap", "openai/cheap-a"), ("cheap", "openai/cheap-b")]]
    sent = "\n".join(m["content"] for m in fake.asked[0].prompt)
    assert "rename to width and height" in sent and "@fast" not in sent
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "ok")]


async def test_a_failed_model_falls_back_to_the_next_and_both_are_recorded(tmp_path):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/cheap-a", Fail("server_error", "HTTP 503: overloaded"))
    fake.script("openai/cheap-b", Answer(fenced(REFACTORED)))
    result = await engine.run(request(tmp_path, tier="cheap"))
    assert result.outcome == "ok", result.message
    assert result.model.model == "openai/cheap-b"
    assert fake.models_asked() == [("cheap", "openai/cheap-a"), ("cheap", "openai/cheap-b")]
    assert "fell back from openai/cheap-a (server_error: HTTP 503: overloaded)" in result.message
    rows = ledger.rows()
    assert [(r.model, r.outcome, r.fallback_index) for r in rows] == [
        ("openai/cheap-a", "server_error", 0), ("openai/cheap-b", "ok", 1)]
    assert {r.request_id for r in rows} == {result.request_id}
    assert rows[0].error == "HTTP 503: overloaded"


@pytest.mark.parametrize("with_ledger", [True, False], ids=["ledger", "no-ledger"])
async def test_the_budget_hold_is_taken_for_the_call_and_released_when_every_model_fails(
        tmp_path, with_ledger):
    engine, fake, ledger = make_engine(tmp_path, ledger=with_ledger)
    fake.script("openai/cheap-a", Fail("timeout", "no complete answer within 60s"))
    fake.script("openai/cheap-b", Fail("auth_error", "bad key"))
    held: list[float] = []
    fake.during_call = lambda: held.append(ledger.held() if ledger else sum(engine.reserved.values()))
    result = await engine.run(request(tmp_path, tier="cheap"))
    assert result.outcome == "error" and "every model failed" in result.message
    assert held and held[0] == pytest.approx(result.plan.decision.estimated_usd) and held[0] > 0
    assert engine.reserved == {}
    if ledger is not None:
        assert ledger.held() == 0
        assert rows_of(ledger) == [("cheap", "openai/cheap-a", "timeout"),
                                   ("cheap", "openai/cheap-b", "auth_error")]


async def test_a_budget_that_blocks_calls_nothing_and_holds_nothing(tmp_path):
    engine, fake, ledger = make_engine(
        tmp_path, "budgets: {daily_usd: 0.000001, monthly_usd: 50.0, on_exceed: block}\n")
    result = await engine.run(request(tmp_path))
    assert result.outcome == "blocked"
    assert result.message.startswith("daily budget: ") and result.message.endswith("; refused")
    assert fake.asked == [] and ledger.rows() == [] and ledger.held() == 0


async def test_a_cancel_records_the_model_it_stopped_and_settles_the_hold(tmp_path):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/cheap-a", Fail("rate_limited", "HTTP 429"))
    fake.script("openai/cheap-b", Hang())
    task = asyncio.create_task(engine.run(request(tmp_path, tier="cheap")))
    await asyncio.wait_for(fake.started.wait(), 10)
    assert ledger.held() > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = ledger.rows()
    assert [(r.tier, r.model, r.outcome, r.error) for r in rows] == [
        ("cheap", "openai/cheap-a", "rate_limited", "HTTP 429"),
        ("cheap", "openai/cheap-b", "cancelled", "cancelled by the user")]
    assert ledger.held() == 0 and engine.reserved == {}


async def test_a_cancel_while_the_debate_revises_records_both_steps_and_settles_the_hold(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, "debate: {explain: {draft: cheap, revise: mid}}\n")
    fake.script("openai/cheap-a", Answer("Draft: it multiplies."))
    fake.script("openai/mid-a", Hang())
    task = asyncio.create_task(engine.run(request(tmp_path, action="explain")))
    while not fake.models_asked()[1:]:
        await asyncio.sleep(0.01)
    assert ledger.held() > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(r.tier, r.model, r.outcome) for r in ledger.rows()] == [
        ("cheap", "openai/cheap-a", "ok"), ("mid", "openai/mid-a", "cancelled")]
    assert ledger.held() == 0 and engine.reserved == {}


async def test_a_cancel_before_any_model_is_asked_releases_the_hold(tmp_path, monkeypatch):
    """While the chain is being made ready (the embedded runtime can take seconds to start)."""
    engine, fake, ledger = make_engine(tmp_path)
    preparing = asyncio.Event()

    async def slow_prepare(*args, **kwargs):
        preparing.set()
        await asyncio.Event().wait()

    monkeypatch.setattr("routerls.engine.availability.prepare", slow_prepare)
    task = asyncio.create_task(engine.run(request(tmp_path)))
    await asyncio.wait_for(preparing.wait(), 10)
    assert ledger.held() > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # no model was called: like a blocked request, no row; the hold is released, not left to expire
    assert fake.asked == [] and ledger.rows() == [] and ledger.held() == 0 and engine.reserved == {}
