"""What the engine sends beyond one request: a follow-up carries the document's earlier
exchange to whichever model answers, and a debate drafts on one tier and has another critique
and revise the draft."""

from __future__ import annotations

from engine_setup import make_engine, request, rows_of
from fake_gateway import Answer

from routerls.debate import CRITIQUE_PROMPT


async def test_a_follow_up_carries_the_earlier_exchange_to_another_model(tmp_path):
    engine, fake, ledger = make_engine(tmp_path)
    fake.script("openai/cheap-a", Answer("It multiplies the two sides."))
    fake.script("openai/mid-a", Answer("Width times height gives the area of a rectangle."))
    first = await engine.run(request(tmp_path, action="explain"))
    assert first.outcome == "ok" and first.edit.markdown == "It multiplies the two sides."
    again = await engine.run(request(tmp_path, action="explain", instruction="@mid more detail",
                                     follow_up=True))
    assert again.outcome == "ok" and again.model.model == "openai/mid-a"
    sent = fake.asked[1].prompt
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == fake.asked[0].prompt[-1]["content"]  # the first question
    assert sent[2]["content"] == "It multiplies the two sides."
    assert "more detail" in sent[3]["content"]
    assert engine.last_action(str(tmp_path / "shapes.py")) == "explain"
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "ok"), ("mid", "openai/mid-a", "ok")]


async def test_without_follow_up_or_after_close_no_history_is_sent(tmp_path):
    engine, fake, _ = make_engine(tmp_path)
    fake.script("openai/cheap-a", Answer("First."), Answer("Second."), Answer("Third."))
    await engine.run(request(tmp_path, action="explain"))
    await engine.run(request(tmp_path, action="explain"))
    assert [m["role"] for m in fake.asked[1].prompt] == ["system", "user"]
    engine.forget(str(tmp_path / "shapes.py"))
    await engine.run(request(tmp_path, action="explain", follow_up=True))
    assert [m["role"] for m in fake.asked[2].prompt] == ["system", "user"]


async def test_a_debate_drafts_on_one_tier_and_revises_on_another(tmp_path):
    engine, fake, ledger = make_engine(tmp_path, "debate: {explain: {draft: cheap, revise: mid}}\n")
    fake.script("openai/cheap-a", Answer("Draft: it multiplies."))
    fake.script("openai/mid-a", Answer("## Critique\nToo short.\n\n## Revised\nArea of a rectangle."))
    result = await engine.run(request(tmp_path, action="explain"))
    assert result.outcome == "ok"
    assert result.edit.markdown.endswith("## Revised\nArea of a rectangle.")
    revise = fake.asked[1].prompt
    assert revise[-2:] == [{"role": "assistant", "content": "Draft: it multiplies."},
                           {"role": "user", "content": CRITIQUE_PROMPT}]
    assert "debate: cheap drafted, mid critiqued and revised" in result.message
    assert rows_of(ledger) == [("cheap", "openai/cheap-a", "ok"), ("mid", "openai/mid-a", "ok")]
    assert result.cost_usd == sum(r.cost_usd for r in ledger.rows())
