"""What becomes of an applied edit, seen by the language server through a real LSP client: the
client undoes it, types over it, runs the action again, or leaves it for the window; and with
`route.learn: on` what was undone moves the task class up a tier, the reason saying so."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import Reply, Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = """\
def first():
    return 1


def second():
    return 2
"""
FIXED = "```python\ndef second():\n    return 22\n```"
WINDOW_S = 1.0
# a high min_evidence: the outcome tests must not move the route under each other
WORKSPACE = f"route: {{learn: on, learn_window_s: {WINDOW_S}, learn_min_evidence: 1000}}\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("learning"), workspace_yaml=WORKSPACE)
    yield s
    await s.stop()


def _args(uri: str, **extra) -> dict:
    return {"action": "refactor", "uri": uri, "version": 1,
            "range": {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}, **extra}


def outcomes(session: Session) -> dict[str, tuple[str, str]]:
    """request id → (tier, outcome), from the server's ledger ('pending' until it is known)."""
    db = sqlite3.connect(session.data / "ledger.sqlite3")
    try:
        return {r: (t, o) for r, t, o in db.execute("SELECT request_id, tier, outcome FROM outcomes")}
    finally:
        db.close()


async def outcome_of(session: Session, request_id: str, timeout: float = 10.0) -> str:
    """The request's outcome once it is known."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = outcomes(session)
        outcome = got.get(request_id, (None, "pending"))[1]
        if outcome != "pending":
            return outcome
        assert asyncio.get_running_loop().time() < deadline, f"no outcome for {request_id}: {got}"
        await asyncio.sleep(0.05)


async def applied_run(session: Session, name: str) -> tuple[str, str]:
    session.models.reset()
    session.models.script(Reply(text=FIXED), model="gpt-4o")
    uri = session.open(name, SOURCE)
    result = await session.run(_args(uri))
    assert result["state"] == "done" and result["applied"], result
    assert session.text(uri) == SOURCE.replace("return 2", "return 22")
    return uri, result["requestId"]


async def test_an_edit_the_client_undoes_is_undone(session: Session):
    uri, request_id = await applied_run(session, "undo.py")
    session.change(uri, "import os\n" + session.text(uri))  # work elsewhere first: still pending
    await asyncio.sleep(0.2)
    assert outcomes(session)[request_id] == ("mid", "pending")
    session.change(uri, "import os\n" + SOURCE)  # the editor's undo of the edit
    assert await outcome_of(session, request_id, timeout=WINDOW_S / 2) == "undone"  # at once
    assert outcomes(session)[request_id] == ("mid", "undone")


async def test_an_edit_typed_over_is_reworked(session: Session):
    uri, request_id = await applied_run(session, "rework.py")
    session.change(uri, session.text(uri).replace("return 22", "return 22 + 1"))
    assert await outcome_of(session, request_id) == "reworked"


async def test_the_same_action_again_is_a_rerun(session: Session):
    uri, request_id = await applied_run(session, "rerun.py")
    session.models.script(Reply(text="```python\ndef second():\n    return 23\n```"), model="gpt-4-turbo")
    again = await session.run(_args(uri, version=2, tier="frontier"))  # "try a stronger model"
    assert again["state"] == "done", again
    assert outcomes(session)[request_id] == ("mid", "rerun")  # before the window ends
    assert await outcome_of(session, again["requestId"]) == "kept"


async def test_an_edit_left_alone_is_kept_after_the_window(session: Session):
    uri, request_id = await applied_run(session, "kept.py")
    session.change(uri, session.text(uri) + "\n\ndef third():\n    return 3\n")  # elsewhere
    await asyncio.sleep(WINDOW_S / 2)
    assert outcomes(session)[request_id] == ("mid", "pending")
    assert await outcome_of(session, request_id) == "kept"


@pytest.mark.slow
async def test_undone_edits_move_the_task_class_up_and_the_reason_says_so(tmp_path):
    s = await start_session(tmp_path, workspace_yaml=f"route: {{learn: on, learn_window_s: {WINDOW_S}, "
                                                     "learn_min_evidence: 2}\n")
    try:
        for name in ("a.py", "b.py"):
            uri, request_id = await applied_run(s, name)
            s.change(uri, SOURCE)
            assert await outcome_of(s, request_id) == "undone"
        s.models.reset()
        s.models.script(Reply(text=FIXED), model="gpt-4-turbo")
        uri = s.open("c.py", SOURCE)
        s.statuses.clear()
        result = await s.run(_args(uri))
        assert result["state"] == "done" and result["tier"] == "frontier", result
        done = await s.wait_status("done")
        assert done["reason"].startswith("learned: mid kept 0 of 2 refactor edits here; frontier instead of mid")
        # the title an editor shows moved too
        actions = await s.code_actions(uri, _range())
        assert any(a.title == "AI: Refactor (frontier · gpt-4-turbo)" for a in actions), [a.title for a in actions]
        # the spend report shows what was kept per task class and tier
        markdown = await s.client.workspace_execute_command_async(
            T.ExecuteCommandParams(command="routerls.report", arguments=[{"by": "model"}]))
        assert "## Applied edits: what was kept" in markdown
        assert "| refactor | mid | 0 | 2 | 0 | 0 | 0 | 0% |" in markdown
    finally:
        await s.stop()


def _range():
    return T.Range(T.Position(4, 0), T.Position(6, 0))
