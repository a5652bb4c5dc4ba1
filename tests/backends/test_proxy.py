"""A team's LiteLLM proxy as a tier: a real proxy (scripts/install-proxy.sh) in front of the
scripted model server, a virtual key from `api_key_env`, and the proxy's own spend figure in the
ledger."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import litellm
import pytest
from conftest import SAMPLE, ledger_rows
from modelserver import Reply

from routerls.cli import main

PROXY = Path(__file__).resolve().parents[2] / ".proxy-venv" / "bin" / "litellm"
MASTER_KEY = "sk-team-master-0123456789"
FIXED = SAMPLE.replace('shape = "circle"', 'shape == "circle"')

pytestmark = [pytest.mark.slow,  # a real LiteLLM proxy starts
              pytest.mark.skipif(not PROXY.exists(), reason="LiteLLM proxy not installed (bash scripts/install-proxy.sh)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxy(tmp_path, model_server):
    port = free_port()
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(f"""
model_list:
  - model_name: team-fast
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{model_server.url}", api_key: upstream-key}}
general_settings: {{master_key: {MASTER_KEY}}}
""")
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False")
    proc = subprocess.Popen([str(PROXY), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health/liveliness", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the LiteLLM proxy did not start")
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_an_action_through_the_team_proxy_records_the_proxys_spend(project, model_server, proxy, monkeypatch):
    monkeypatch.setenv("ROUTERLS_TEAM_KEY", MASTER_KEY)
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace(
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}"}}',
        f'{{model: openai/team-fast, api_base: "{proxy}/v1", api_key_env: ROUTERLS_TEAM_KEY}}'))
    fixed_lines = "".join(FIXED.splitlines(keepends=True)[2:9])
    model_server.script(Reply(f"```python\n{fixed_lines}```", prompt_tokens=700, completion_tokens=90),
                        model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    assert (project / "sample.py").read_text() == FIXED
    [row] = ledger_rows()
    # the proxy priced the call by its upstream model; routerls alone could not price `team-fast`
    expected = sum(litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=700, completion_tokens=90))
    assert row.model == "openai/team-fast" and row.outcome == "ok"
    assert abs(row.cost_usd - expected) < 1e-9 and row.cost_usd > 0
    # the virtual key reached the proxy, never the upstream server
    assert model_server.requests[-1].model == "gpt-4o-mini"
