"""Every built-in action and a user action from `.routerls.yaml`, end to end: offered with the
tier in the title, run through `routerls.run`, applied as a versioned edit, reported in status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import Reply, Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKSPACE_YAML = """\
actions:
  - {name: comments-en, title: "Translate comments to English", task: format,
     prompt: "Translate every comment in the code to English. Return only the code.", result: replace}
"""

SOURCE = """\
import math


def area(r):
    return math.pi * r * r


def add(a, b):
    return a - b
"""
ADD = T.Range(T.Position(7, 0), T.Position(9, 0))
AREA = T.Range(T.Position(3, 0), T.Position(5, 0))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("actions"), workspace_yaml=WORKSPACE_YAML)
    yield s
    await s.stop()


def _fence(code: str) -> str:
    return f"```python\n{code}```"


async def _run_action(session: Session, name: str, doc: str, rng: T.Range, action: str,
                      diagnostics: list[T.Diagnostic] | None = None):
    uri = session.open(doc, SOURCE)
    offered = await session.code_actions(uri, rng, diagnostics)
    chosen = next(a for a in offered if a.command.arguments[0]["action"] == action)
    result = await session.run(chosen.command.arguments[0])
    status = await session.wait_status(result["state"])
    return uri, chosen, result, status


async def test_fix_is_offered_only_over_diagnostics_and_fixes_the_code(session: Session):
    uri = session.open("fix_offer.py", SOURCE)
    titles = [a.title for a in await session.code_actions(uri, ADD)]
    assert not any(t.startswith("AI: Fix") for t in titles)
    diag = T.Diagnostic(range=T.Range(T.Position(8, 11), T.Position(8, 16)),
                        message="add subtracts", severity=T.DiagnosticSeverity.Error, source="review")
    session.models.script(Reply(text=_fence("def add(a, b):\n    return a + b\n"), prompt_tokens=400,
                                completion_tokens=20), model="gpt-4o")
    uri, chosen, result, status = await _run_action(session, "fix", "fix.py", ADD, "fix", [diag])
    assert chosen.title == "AI: Fix (mid · gpt-4o)"
    assert chosen.kind == T.CodeActionKind.QuickFix
    assert result["state"] == "done", result
    assert session.text(uri) == SOURCE.replace("a - b", "a + b")
    assert status["tier"] == "mid" and status["model"] == "gpt-4o"
    assert status["inputTokens"] == 400 and status["outputTokens"] == 20
    assert status["costUsd"] == pytest.approx((400 * 2.5 + 20 * 10) / 1e6)
    assert status["savedUsd"] == pytest.approx((400 * 10 + 20 * 30) / 1e6 - status["costUsd"])
    assert "add subtracts" in session.models.requests[-1].last_user


async def test_every_action_is_offered_with_its_tier_and_kind(session: Session):
    uri = session.open("offer.py", SOURCE)
    offered = {a.command.arguments[0]["action"]: a for a in await session.code_actions(uri, AREA)}
    assert {name: (a.title, a.kind) for name, a in offered.items()} == {
        "explain": ("AI: Explain (cheap · gpt-4o-mini)", "refactor"),
        "tests": ("AI: Write tests (mid · gpt-4o)", "source"),
        "refactor": ("AI: Refactor (mid · gpt-4o)", "refactor.rewrite"),
        "docstring": ("AI: Add docstring (local · local-coder)", "refactor.rewrite"),
        "format": ("AI: Format (tools · ruff)", "refactor.rewrite"),
        "design": ("AI: Design (frontier · gpt-4-turbo)", "refactor"),
        "comments-en": ("AI: Translate comments to English (local · local-coder)", "refactor.rewrite"),
    }
    args = offered["refactor"].command.arguments[0]
    assert args == {"action": "refactor", "uri": uri, "version": 1,
                    "range": {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 0}}}
    only = await session.code_actions(uri, AREA, only=["source"])
    assert [a.command.arguments[0]["action"] for a in only] == ["tests"]


@pytest.mark.parametrize(("action", "model", "tier", "answer", "expected"), [
    ("refactor", "gpt-4o", "mid", "def area(r):\n    return math.pi * r**2\n",
     SOURCE.replace("math.pi * r * r", "math.pi * r**2")),
    ("docstring", "local-coder", "local",
     'def area(r):\n    """The area of a circle of radius r."""\n    return math.pi * r * r\n',
     SOURCE.replace("def area(r):\n", 'def area(r):\n    """The area of a circle of radius r."""\n')),
    # run with @local: the tools tier steps aside; the answer must be what ruff format leaves
    ("format", "local-coder", "local", "def area(r):\n    return math.pi * r * r\n", SOURCE),
    ("comments-en", "local-coder", "local", "def area(r):\n    return math.pi * r * r  # area\n",
     SOURCE.replace("math.pi * r * r\n", "math.pi * r * r  # area\n")),
])
async def test_rewrite_actions_edit_the_selection(session: Session, action, model, tier, answer, expected):
    session.models.script(Reply(text=_fence(answer), prompt_tokens=300, completion_tokens=30), model=model)
    start = SOURCE.replace("math.pi * r * r", "math.pi*r*r") if action == "format" else SOURCE
    uri = session.open(f"{action.replace('-', '_')}.py", start)
    chosen = next(a for a in await session.code_actions(uri, AREA) if a.command.arguments[0]["action"] == action)
    args = dict(chosen.command.arguments[0], **({"instruction": "@local"} if action == "format" else {}))
    result = await session.run(args)
    status = await session.wait_status(result["state"])
    assert result["state"] == "done", result
    assert session.text(uri) == expected
    assert (status["tier"], status["model"]) == (tier, model)
    assert (status["inputTokens"], status["outputTokens"]) == (300, 30)
    frontier = (300 * 10 + 30 * 30) / 1e6
    if tier == "local":
        assert status["costUsd"] == 0.0
        assert status["savedUsd"] == pytest.approx(frontier)
    else:
        assert status["costUsd"] > 0
        assert status["savedUsd"] == pytest.approx(frontier - status["costUsd"])
    assert status["sessionCostUsd"] >= status["costUsd"]


async def test_format_is_served_by_ruff_without_a_model(session: Session):
    messy = SOURCE.replace("math.pi * r * r", "math.pi*r*r").replace("def add(a, b)", "def add( a,b )")
    uri = session.open("format_tools.py", messy)
    before = len(session.models.requests)
    chosen = next(a for a in await session.code_actions(uri, AREA) if a.command.arguments[0]["action"] == "format")
    assert chosen.title == "AI: Format (tools · ruff)"
    result = await session.run(chosen.command.arguments[0])
    status = await session.wait_status(result["state"])
    assert result["state"] == "done", result
    # only the selected statement (`area`) is formatted; `add` is outside the selection
    assert session.text(uri) == SOURCE.replace("def add(a, b)", "def add( a,b )")
    assert (status["tier"], status["model"], status["costUsd"]) == ("tools", "ruff 0.17.6", 0.0)
    assert status["reason"] == "ruff: deterministic, $0"
    assert len(session.models.requests) == before


async def test_tests_action_creates_a_test_file(session: Session):
    test_code = "from tests_src import area\n\n\ndef test_area():\n    assert area(1) > 3\n"
    session.models.script(Reply(text=_fence(test_code), prompt_tokens=500, completion_tokens=40), model="gpt-4o")
    uri, _, result, status = await _run_action(session, "tests", "tests_src.py", AREA, "tests")
    assert result["state"] == "done", result
    assert session.text(uri) == SOURCE
    assert session.created == {(session.root / "tests" / "test_tests_src.py").as_uri(): test_code}
    create = session.applied[-1].edit.document_changes
    assert isinstance(create[0], T.CreateFile)
    assert create[1].text_document.version is None
    assert (status["tier"], status["model"], status["outputTokens"]) == ("mid", "gpt-4o", 40)
    assert status["costUsd"] > 0


@pytest.mark.parametrize(("action", "model", "tier"), [("explain", "gpt-4o-mini", "cheap"),
                                                      ("design", "gpt-4-turbo", "frontier")])
async def test_markdown_actions_show_a_document_and_edit_nothing(session: Session, action, model, tier):
    answer = f"## {action}\n\n`area` computes the area of a circle.\n"
    session.models.script(Reply(text=answer, prompt_tokens=200, completion_tokens=12), model=model)
    shown_before = len(session.client.shown_documents)
    uri, _, result, status = await _run_action(session, action, f"{action}_md.py", AREA, action)
    assert result["state"] == "done" and result["markdown"] == answer
    assert session.text(uri) == SOURCE
    shown = session.client.shown_documents[shown_before:]
    assert len(shown) == 1 and shown[0].uri.endswith(".md")
    assert Path(shown[0].uri.removeprefix("file://")).read_text(encoding="utf-8") == answer
    assert (status["tier"], status["model"]) == (tier, model)
    assert status["costUsd"] > 0
    if tier == "frontier":
        assert status["savedUsd"] == 0.0


async def test_spend_request_and_report_command(session: Session):
    spend = await session.client.protocol.send_request_async("routerls/spend", None)
    spend = {k: getattr(spend, k) for k in spend._fields}
    assert spend["sessionCostUsd"] > 0 and spend["todayCostUsd"] >= spend["sessionCostUsd"]
    assert spend["budget"]._asdict() == {"dailyUsd": 2.0, "monthlyUsd": 20.0}
    markdown = await session.client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="routerls.report", arguments=[{"by": "model"}]))
    # one key per model: the config's name, not the provider path
    assert "| gpt-4o |" in markdown and "openai/gpt-4o" not in markdown and "saved" in markdown
    html = await session.client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="routerls.dashboard", arguments=[{"by": "day"}]))
    assert html.startswith("<!doctype html>") and "<script" not in html
    session_total = re.search(r'data-total="session" data-usd="([^"]+)"', html)
    assert session_total and float(session_total.group(1)) == pytest.approx(spend["sessionCostUsd"], abs=1e-12)
    assert 'data-model="gpt-4o"' in html
