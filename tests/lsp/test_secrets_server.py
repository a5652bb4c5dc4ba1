"""API keys never reach the log file, the ledger, status notifications, messages or `doctor`,
even when a provider echoes the key back in its error (as OpenAI's 401 does)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from server_session import start_session

# not key-shaped: only knowing the env var's value can hide it
KEY = "hunter2-not-key-shaped-9f8e7d6c5b4a"
SOURCE = "def second():\n    return 2\n"


class _EchoKey(BaseHTTPRequestHandler):
    """A provider that refuses the key and quotes it back, like `Incorrect API key provided: …`."""

    seen: ClassVar[list[str]] = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        _EchoKey.seen.append(auth)
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _EchoKey.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.mark.slow
async def test_a_provider_echoing_the_key_never_leaks_it(tmp_path, echo_server):
    def model(name: str) -> dict:
        return {"model": f"openai/{name}", "api_base": echo_server, "api_key_env": "ROUTERLS_TEST_KEY"}

    settings = {"tiers": {"mid": {"models": [model("gpt-4o")]}, "frontier": {"models": [model("gpt-4-turbo")]}},
                "gateway": {"timeout_s": 10, "retries": 0, "backoff_s": 0}}
    s = await start_session(tmp_path, initialization_options={"routerls": settings},
                            extra_env={"ROUTERLS_TEST_KEY": KEY})
    try:
        uri = s.open("leak.py", SOURCE)
        result = await asyncio.wait_for(s.run({
            "action": "refactor", "uri": uri, "version": 1,
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}}), 30)
        await asyncio.sleep(0.3)
        assert result["state"] == "error" and "auth_error" in result["message"], result
        assert _EchoKey.seen and all(KEY in a for a in _EchoKey.seen)  # the key did go to the provider
        everywhere = {
            "result": json.dumps(result),
            "statuses": json.dumps(s.statuses),
            "messages": json.dumps([m.message for m in s.client.messages]),
            "log messages": json.dumps([m.message for m in s.client.log_messages]),
            "log file": (s.data / "routerls.log").read_text(encoding="utf-8"),
            "ledger": json.dumps(s.ledger_rows()),
        }
        assert "Incorrect API key provided" in everywhere["ledger"]  # the error itself is kept
        for where, text in everywhere.items():
            assert KEY not in text, f"the API key leaked into the {where}"
    finally:
        await s.stop()


def test_doctor_names_keys_but_never_shows_them(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "tiers:\n"
        "  cheap: {models: [{model: openai/gpt-4o-mini, api_key_env: ROUTERLS_TEST_KEY,\n"
        "                    api_base: 'http://admin:url-pa55word@127.0.0.1:9/v1'}]}\n"
        "tasks: {fix: cheap, explain: cheap, docstring: cheap, format: cheap, tests: cheap,\n"
        "        refactor: cheap, design: cheap}\n", encoding="utf-8")
    env = {**os.environ, "ROUTERLS_CONFIG": str(config), "ROUTERLS_TEST_KEY": KEY,
           "ROUTERLS_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    out = subprocess.run([sys.executable, "-m", "routerls", "doctor"], check=False, env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "ROUTERLS_TEST_KEY" in text and "key set" in text, text
    assert KEY not in text and "url-pa55word" not in text
    assert "admin:***@127.0.0.1:9" in text
