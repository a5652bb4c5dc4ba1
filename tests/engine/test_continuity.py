"""A document's conversation survives a model switch, and `design` can be drafted by one tier
and critiqued and revised by another."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ledger_rows
from lsprotocol import types as T
from server_session import Reply, start_session

from routerls.engine import Engine
from routerls.layers import load_config
from routerls.ledger import Ledger, default_path
from routerls.request import RunRequest
from routerls.text import Range

CODE = "def area(r):\n    return 3.14159 * r * r\n"


def request(project, **kw) -> RunRequest:
    return RunRequest(path=str(project / "shapes.py"), text=CODE, range=Range.of(0, 0, 2, 0),
                      workspace_root=str(project), **kw)


def test_follow_up_after_a_model_switch_carries_the_earlier_turns(project, model_server):
    engine = Engine(load_config(project), Ledger(default_path()))
    model_server.script("It computes the area of a circle.", model="gpt-4o-mini")
    first = asyncio.run(engine.run(request(project, action="explain")))
    assert first.outcome == "ok" and first.model.name == "gpt-4o-mini"

    model_server.script("It uses an approximation of pi; math.pi is more exact.", model="gpt-4o")
    second = asyncio.run(engine.run(request(project, action="explain", instruction="@mid more detail",
                                            follow_up=True)))
    assert second.outcome == "ok" and second.model.name == "gpt-4o"
    sent = model_server.requests[-1].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "It computes the area of a circle."
    assert "more detail" in sent[3]["content"] and "3.14159" in sent[1]["content"]
    # without follow_up, a request starts fresh
    model_server.script("Fresh.", model="gpt-4o-mini")
    asyncio.run(engine.run(request(project, action="explain")))
    assert [m["role"] for m in model_server.requests[-1].messages] == ["system", "user"]


def test_follow_up_history_is_trimmed_to_the_window_oldest_first(project, model_server):
    engine = Engine(load_config(project))
    for i in range(3):
        model_server.script(f"answer {i} " + "word " * 3000, model="gpt-4o-mini")
        asyncio.run(engine.run(request(project, action="explain", follow_up=True)))
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace('{model: openai/gpt-4o-mini, api_base:',
                                           '{model: openai/gpt-4o-mini, context_window: 9000, api_base:'))
    engine.config = load_config(project)
    model_server.script("short", model="gpt-4o-mini")
    asyncio.run(engine.run(request(project, action="explain", follow_up=True)))
    assistants = [m["content"] for m in model_server.requests[-1].messages if m["role"] == "assistant"]
    assert assistants and all(a.startswith("answer 2") for a in assistants)


@pytest.mark.parametrize(("draft", "revise", "first_model", "second_model"),
                         [("cheap", "frontier", "gpt-4o-mini", "gpt-4.1"),
                          ("frontier", "cheap", "gpt-4.1", "gpt-4o-mini")])
def test_debate_drafts_then_critiques_and_revises(project, model_server, draft, revise, first_model, second_model):
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text() + f"debate: {{design: {{draft: {draft}, revise: {revise}}}}}\n")
    model_server.script("## Draft\nA cache in front of the store.", model=first_model)
    model_server.script("## Critique\nNo eviction.\n## Revised\nAn LRU cache in front of the store.",
                        model=second_model)
    engine = Engine(load_config(project), Ledger(default_path()))
    result = asyncio.run(engine.run(request(project, action="design")))
    assert result.outcome == "ok"
    assert result.edit.markdown.endswith("An LRU cache in front of the store.")
    assert [r.model for r in model_server.requests] == [first_model, second_model]
    critique = model_server.requests[1].messages
    assert critique[-2] == {"role": "assistant", "content": "## Draft\nA cache in front of the store."}
    assert "Critique the answer above" in critique[-1]["content"]
    assert f"debate: {draft} drafted, {revise} critiqued and revised" in result.reason
    assert "fell back" not in result.reason
    rows = ledger_rows()
    assert [(r.tier, r.outcome) for r in rows] == [(draft, "ok"), (revise, "ok")]
    assert result.cost_usd == pytest.approx(sum(r.cost_usd for r in rows))


@pytest.mark.slow
async def test_follow_up_over_lsp_reuses_the_documents_last_action(tmp_path):
    session = await start_session(tmp_path)
    try:
        uri = session.open("shapes.py", CODE)
        rng = T.Range(T.Position(0, 0), T.Position(2, 0))
        session.models.script(Reply(text="Area of a circle."), model="gpt-4o-mini")
        explain = next(a for a in await session.code_actions(uri, rng) if a.command.arguments[0]["action"] == "explain")
        assert (await session.run(explain.command.arguments[0]))["state"] == "done"
        session.models.script(Reply(text="More: it squares r."), model="gpt-4o-mini")
        result = await session.run({"uri": uri, "range": {"start": {"line": 0, "character": 0},
                                                          "end": {"line": 2, "character": 0}},
                                    "followUp": True, "instruction": "more detail"})
        assert result["state"] == "done", result
        sent = session.models.requests[-1].messages
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert sent[2]["content"] == "Area of a circle."
    finally:
        await session.stop()
