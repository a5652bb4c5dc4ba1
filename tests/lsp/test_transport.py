"""The wire, as a hostile or broken client writes it: raw bytes into a real `routerls serve`
(stdio), and connections to `routerls serve --tcp` with and without the token."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types as T
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"capabilities": {}, "rootUri": None, "processId": None}}


def frame(message: dict, length: int | None = None) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def spend(msg_id: int) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "routerls/spend", "params": None}


class Wire:
    """A `routerls serve` process and a reader of its framed replies."""

    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "routerls", "serve", *args], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def reply(self, timeout: float = 30.0) -> dict:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"Content-Length: (\d+)\r\n(?:[^\r\n]+\r\n)*\r\n", self.buf)
            if m and len(self.buf) >= m.end() + int(m.group(1)):
                body = self.buf[m.end():m.end() + int(m.group(1))]
                self.buf = self.buf[m.end() + int(m.group(1)):]
                message = json.loads(body)
                if "id" in message:  # skip notifications (window/logMessage, ...)
                    return message
                continue
            assert time.monotonic() < deadline, f"no reply; got {self.buf[-500:]!r}"
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, f"the server closed stdout; stderr: {self.proc.stderr.read()[-2000:]!r}"
            self.buf += chunk

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {**os.environ, "ROUTERLS_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def test_an_oversized_frame_gets_an_error_and_a_clean_exit(env):
    wire = Wire(env)
    try:
        wire.send(frame(INIT))
        assert wire.reply()["id"] == 1
        wire.send(b"Content-Length: 99999999999\r\n\r\n{}")
        error = wire.reply()
        assert error["id"] is None and error["error"]["code"] == -32600
        assert "99999999999 bytes is over the 67108864-byte limit" in error["error"]["message"]
        assert wire.proc.wait(30) == 1
        assert b"over the 67108864-byte limit" in wire.proc.stderr.read()
        log = (Path(env["ROUTERLS_DATA_DIR"]) / "routerls.log").read_text()
        assert "over the 67108864-byte limit" in log and "MemoryError" not in log
    finally:
        wire.close()


def test_the_limit_is_an_option(env):
    wire = Wire(env, "--max-message-mb", "1")
    try:
        wire.send(b"Content-Length: 2000000\r\n\r\n")  # refused from the header: the body is never read
        assert "2000000 bytes is over the 1048576-byte limit" in wire.reply()["error"]["message"]
        assert wire.proc.wait(30) == 1
    finally:
        wire.close()


@pytest.mark.slow
def test_wrong_lengths_cost_one_message_not_the_session(env):
    wire = Wire(env)
    try:
        wire.send(frame(INIT))
        assert wire.reply()["id"] == 1
        # too long: the body swallows the start of the next message, which must still be answered
        wire.send(frame(spend(2), length=200) + frame(spend(3)))
        replies = [wire.reply(), wire.reply()]
        assert replies[0]["id"] is None and replies[0]["error"]["code"] == -32700
        assert replies[1]["id"] == 3 and "todayCostUsd" in replies[1]["result"]
        # too short: a broken body, then the rest of it is skipped up to the next header
        wire.send(frame(spend(4), length=20) + frame(spend(5)))
        replies = [wire.reply(), wire.reply()]
        assert replies[0]["error"]["code"] == -32700 and replies[1]["id"] == 5
        # too long, and nothing follows: the body is taken as it stands after a pause
        wire.send(frame(spend(6), length=500))
        assert wire.reply(timeout=15)["id"] == 6
        # garbage with no header at all, then a good message
        wire.send(b"hello\r\nthis is not LSP\r\n\r\n" + frame(spend(7)))
        replies = [wire.reply(), wire.reply()]
        assert replies[0]["error"]["code"] == -32600 and replies[1]["id"] == 7
        assert wire.proc.poll() is None
    finally:
        wire.close()


def test_wrong_typed_params_get_a_json_rpc_error(env):
    wire = Wire(env)
    try:
        wire.send(frame(INIT))
        assert wire.reply()["id"] == 1
        wire.send(frame({"jsonrpc": "2.0", "id": 2, "method": "textDocument/codeAction",
                         "params": {"textDocument": 5, "range": "x", "context": {}}}))
        error = wire.reply()
        assert error["id"] == 2 and error["error"]["code"] == -32602
        wire.send(frame({"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand",
                         "params": {"command": "routerls.run", "arguments": [
                             {"action": "fix", "uri": "file:///x.py", "range": {"start": 1, "end": "z"}}]}}))
        reply = wire.reply()
        assert reply["id"] == 3 and "`range` must be" in json.dumps(reply)
        wire.send(frame([1, 2]))  # type: ignore[arg-type]
        assert wire.reply()["error"]["code"] == -32600
        wire.send(frame(spend(4)))
        assert wire.reply()["id"] == 4
    finally:
        wire.close()


# --- TCP ----------------------------------------------------------------------------------------

class TcpServer:
    def __init__(self, env: dict[str, str], host: str = "127.0.0.1"):
        self.proc = subprocess.Popen([sys.executable, "-m", "routerls", "serve", "--tcp", f"{host}:0"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert m, line + self.proc.stderr.read()
        self.address = (m.group(1), int(m.group(2)))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _initialize_with_a_command_model(marker: Path) -> bytes:
    """What the attacker sent: a `command` model that runs a program of their choosing."""
    program = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran')"]
    options = {"tiers": {"cheap": {"models": [{"command": program}]}},
               "tasks": {"explain": "cheap"}}
    return frame({**INIT, "params": {**INIT["params"], "initializationOptions": options}}) + frame(
        {"jsonrpc": "2.0", "method": "initialized", "params": {}}) + frame(
        {"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": {
            "command": "routerls.run", "arguments": [{"action": "explain", "uri": "file:///etc/hostname",
                                                      "range": {"start": {"line": 0, "character": 0},
                                                                "end": {"line": 1, "character": 0}}}]}})


def test_tcp_without_the_token_runs_nothing_and_the_token_file_is_private(env, tmp_path):
    server = TcpServer(env)
    marker = tmp_path / "ran"
    try:
        token_file = Path(env["ROUTERLS_DATA_DIR"]) / "tcp-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        for first in (b"", b"routerls-token " + b"0" * 64 + b"\r\n"):
            with socket.create_connection(server.address, timeout=10) as sock:
                sock.sendall(first + _initialize_with_a_command_model(marker))
                assert sock.recv(65536) == b""  # closed without a word
        time.sleep(1)
        assert not marker.exists() and server.proc.poll() is None
        log = (Path(env["ROUTERLS_DATA_DIR"]) / "routerls.log").read_text()
        assert log.count("no valid routerls-token line") == 2
    finally:
        server.close()


def test_tcp_listens_on_loopback_only(env):
    proc = subprocess.run([sys.executable, "-m", "routerls", "serve", "--tcp", "0.0.0.0:0"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "loopback only" in proc.stderr


@pytest.mark.slow
async def test_a_real_client_through_routerls_connect(env, tmp_path):
    env = {**env, "ROUTERLS_TCP_TOKEN": "s3cret-token-from-the-environment"}
    server = TcpServer(env)
    client = make_test_lsp_client()
    try:
        host, port = server.address
        await client.start_io(sys.executable, "-m", "routerls", "connect", f"{host}:{port}", env=env)
        result = await client.initialize_session(T.InitializeParams(
            capabilities=client_capabilities("neovim@v0.10.0"), root_uri=tmp_path.as_uri(),
            process_id=os.getpid()))
        assert result.server_info is not None and result.server_info.name == "routerls"
        spent = await client.protocol.send_request_async("routerls/spend", None)
        assert spent.todayCostUsd == 0.0
        await client.shutdown_session()
        assert server.proc.wait(30) == 0
        assert not (Path(env["ROUTERLS_DATA_DIR"]) / "tcp-token").exists()  # the env var was used
    finally:
        server.close()
