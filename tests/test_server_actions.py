"""Every built-in action and a user action from `.routerls.yaml`, end to end: offered with the
tier in the title, run through `routerls.run`, applied as a versioned edit, reported in status."""

from __future__ import annotations

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
