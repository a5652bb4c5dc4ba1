"""Start-up and configuration: a fast `initialize` without litellm, the advertised surface,
live re-layering of settings, and a bad workspace file that must not break a working server."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import SECRET, Reply, Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = "def double(x):\n    return x * 2\n"
WHOLE = T.Range(T.Position(0, 0), T.Position(2, 0))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("config"), workspace_yaml="strategy: balanced\n")
    yield s
    await s.stop()


async def test_importing_the_server_does_not_import_litellm():
    code = ("import sys, routerls.server, routerls.engine; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai', 'httpx')))")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "[]"


async def test_initialize_advertises_the_protocol_surface(session: Session):
    caps = session.init_result.capabilities
    assert caps.code_action_provider.resolve_provider is True
    assert set(caps.code_action_provider.code_action_kinds) == {"quickfix", "refactor", "refactor.rewrite", "source"}
    assert set(caps.execute_command_provider.commands) == {"routerls.run", "routerls.report", "routerls.setStrategy",
                                                             "routerls.dashboard"}
    assert caps.hover_provider
    assert caps.position_encoding == "utf-16"
    assert session.init_result.server_info.name == "routerls"


async def _titles(session: Session, name: str) -> dict[str, str]:
    uri = session.open(name, SOURCE)
    return {a.command.arguments[0]["action"]: a.title for a in await session.code_actions(uri, WHOLE)}


async def test_did_change_configuration_relayers_settings_live(session: Session):
    assert (await _titles(session, "live1.py"))["refactor"] == "AI: Refactor (mid · gpt-4o)"
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": {"tasks": {"refactor": "cheap"}}}))
    assert (await _titles(session, "live2.py"))["refactor"] == "AI: Refactor (cheap · gpt-4o-mini)"
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={}))
    assert (await _titles(session, "live3.py"))["refactor"] == "AI: Refactor (mid · gpt-4o)"


async def test_set_strategy_moves_every_title(session: Session):
    result = await session.client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="routerls.setStrategy", arguments=[{"strategy": "cost"}]))
    assert result["ok"] and result["strategy"] == "cost"
    titles = await _titles(session, "strategy.py")
    assert titles["refactor"] == "AI: Refactor (cheap · gpt-4o-mini)"
    assert titles["design"] == "AI: Design (mid · gpt-4o)"
    await session.client.workspace_execute_command_async(
        T.ExecuteCommandParams(command="routerls.setStrategy", arguments=[{"strategy": "balanced"}]))
    assert (await _titles(session, "strategy2.py"))["refactor"] == "AI: Refactor (mid · gpt-4o)"


@pytest.mark.slow
async def test_bad_workspace_file_keeps_the_last_good_config(session: Session):
    good = session.root / ".routerls.yaml"
    before = len(session.client.messages)
    good.write_text("strategy: balanced\ntasks: {refactor: enormous}\n", encoding="utf-8")
    try:
        session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={}))
        titles = await _titles(session, "bad.py")
        errors = [m for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert len(errors) == 1
        assert f"{good}:2: tasks.refactor: unknown tier 'enormous'" in errors[0].message
        assert "keeping the last good one" in errors[0].message
        assert titles["refactor"] == "AI: Refactor (mid · gpt-4o)"  # the old config still works
        session.models.script(Reply(text="```python\ndef double(x):\n    return 2 * x\n```"), model="gpt-4o")
        uri = session.open("bad_run.py", SOURCE)
        result = await session.run({"action": "refactor", "uri": uri, "version": 1,
                                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}})
        assert result["state"] == "done" and session.text(uri) == "def double(x):\n    return 2 * x\n"
    finally:
        good.write_text("strategy: balanced\n", encoding="utf-8")
        session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={}))


async def test_api_keys_never_reach_the_log_or_the_user(session: Session):
    before = len(session.client.messages)
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": {"strategy": SECRET}}))
    await _titles(session, "secret.py")
    shown = [m.message for m in session.client.messages[before:]]
    assert shown and all(SECRET not in m for m in shown) and any("***" in m for m in shown)
    log = (session.data / "routerls.log").read_text(encoding="utf-8")
    assert "ready" in log and SECRET not in log
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={}))


async def test_emacs_offers_utf32_first_and_still_gets_utf16(tmp_path):
    s = await start_session(tmp_path, capabilities="emacs@v29.1")
    try:
        assert s.init_result.capabilities.position_encoding == "utf-16"
    finally:
        await s.stop()


async def test_saving_a_bad_workspace_file_is_reported_and_ignored(session: Session):
    path = session.root / ".routerls.yaml"
    # a round trip first: the last test's didChangeConfiguration, still in flight on a loaded
    # machine, would otherwise reload after the write below and report the same error twice
    await _titles(session, "before_save.py")
    before = len(session.client.messages)
    path.write_text("strategy: cheapest\n", encoding="utf-8")
    try:
        session.client.text_document_did_save(T.DidSaveTextDocumentParams(
            text_document=T.TextDocumentIdentifier(uri=path.as_uri())))
        titles = await _titles(session, "saved.py")
        errors = [m.message for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert len(errors) == 1 and f"{path}:1: strategy: unknown strategy 'cheapest'" in errors[0]
        assert titles["refactor"] == "AI: Refactor (mid · gpt-4o)"
    finally:
        path.write_text("strategy: balanced\n", encoding="utf-8")


async def test_serve_over_tcp(tmp_path):
    import json
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ROUTERLS_DATA_DIR": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "ROUTERLS_TCP_TOKEN": "test-token"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "routerls", "serve", "--tcp",
                                                f"127.0.0.1:{port}", env=env)
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
        # the token line first (see transport.py); without it the connection is closed
        writer.write(b"routerls-token test-token\r\n" + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answer = json.loads(await reader.readexactly(length))
        assert answer["result"]["serverInfo"]["name"] == "routerls"
        writer.close()
    finally:
        proc.terminate()
        await proc.wait()
