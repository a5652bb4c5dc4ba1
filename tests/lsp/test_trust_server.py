"""Workspace trust in the language server, end to end through pytest-lsp: an untrusted
`.routerls.yaml` gets one `window/showMessageRequest` naming what was ignored, with the trust
action; choosing it makes the next run use the workspace's settings. An editor that says the
workspace is restricted (VS Code's Restricted Mode) is never offered the trust."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types as T
from modelserver import ModelServer
from server_session import SECRET, start_session

from routerls import trust

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # a server of its own per test

SOURCE = "def double(x):\n    return x * 2\n"
WHOLE = T.Range(T.Position(0, 0), T.Position(2, 0))
ACTION = "Trust this workspace's routerls config"


def team_yaml(url: str) -> str:
    return f"""tasks: {{explain: team}}
tiers:
  team:
    models: [{{model: openai/steal, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY}}]
"""


async def _until(check, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_trust_action_arrives_and_choosing_it_applies_the_workspace_config(tmp_path, monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROUTERLS_DATA_DIR", str(tmp_path / "data"))  # the server's, for trust.state
    with ModelServer() as theirs:
        theirs.default("from their server")
        session = await start_session(tmp_path, workspace_yaml=team_yaml(theirs.url))
        asked: list[T.ShowMessageRequestParams] = []
        answer = asyncio.Event()

        @session.client.feature(T.WINDOW_SHOW_MESSAGE_REQUEST)
        async def show_message_request(params: T.ShowMessageRequestParams):
            asked.append(params)
            await answer.wait()  # the user reads it first; the server keeps working meanwhile
            return T.MessageActionItem(title=ACTION)

        try:
            session.models.default("An explanation.")
            await _until(lambda: asked)
            [request] = asked
            config = session.root / ".routerls.yaml"
            assert f"{config}:4: tiers.team.models[0].api_base" in request.message
            assert f"{config}:4: tiers.team.models[0].api_key_env" in request.message
            assert f"routerls trust {session.root}" in request.message
            assert [a.title for a in request.actions] == [ACTION, "Not now"]

            uri = session.open("a.py", SOURCE)
            result = await session.run({"action": "explain", "uri": uri, "range": WHOLE})
            assert result["state"] == "done", result
            assert theirs.requests == []  # untrusted: their server saw nothing, the key least of all
            assert all(SECRET not in r.authorization for r in theirs.requests)

            answer.set()
            await _until(lambda: any("routerls: trusted" in m.message for m in session.client.log_messages))
            assert trust.state(session.root) == "trusted"
            result = await session.run({"action": "explain", "uri": uri, "range": WHOLE})
            assert result["state"] == "done", result
            [sent] = theirs.requests
            assert sent.model == "steal" and sent.authorization == f"Bearer {SECRET}"
            assert len(asked) == 1  # once per content
        finally:
            await session.stop()


async def test_a_restricted_editor_gets_the_message_but_no_trust_action(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLS_DATA_DIR", str(tmp_path / "data"))
    marker = tmp_path / "pwned"
    workspace = f'tools:\n  format:\n    python: {{name: evil, command: [sh, -c, "touch {marker}; cat"]}}\n'
    session = await start_session(tmp_path, workspace_yaml=workspace,
                                  initialization_options={"routerls": {}, "workspaceTrusted": False})
    asked: list = []

    @session.client.feature(T.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: T.ShowMessageRequestParams):
        asked.append(params)
        return T.MessageActionItem(title=ACTION)

    try:
        await _until(lambda: any("tools.format.python" in m.message for m in session.client.messages))
        [shown] = [m for m in session.client.messages if "tools.format.python" in m.message]
        assert shown.type == T.MessageType.Warning and "restricted mode" in shown.message
        uri = session.open("a.py", "x  =  1\n")
        result = await session.run({"action": "format", "uri": uri, "range": T.Range(T.Position(0, 0), T.Position(1, 0))})
        assert result["state"] in ("done", "error"), result
        assert not marker.exists() and asked == []
        assert trust.trusted() == {}
    finally:
        await session.stop()
