"""The embedded runtime with the real models: start on demand, reuse, never two, stop; a real
docstring with no keys; killing the runtime mid-answer falls back instead of hanging.

Skipped, with the reason, when `routerls[local]` is not installed (`bash scripts/install-local.sh`;
`scripts/test.sh` installs it, so CI runs these).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routerls.backends import availability
from routerls.backends import litellm as gateway
from routerls.backends.local import models, runtime
from routerls.config import GatewaySettings, ModelEntry
from routerls.layers import load_config, structure

MISSING = [m.package for m in models.EMBEDDED.values() if models.package_dir(m.module) is None]
pytestmark = [pytest.mark.real_model, pytest.mark.skipif(
    not models.runtime_installed() or bool(MISSING),
    reason="routerls[local] is not installed (xllamacpp and the model packages); "
           "run `bash scripts/install-local.sh`")]

GEMMA, SMOL = "gemma-3-270m-q4_k_m.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api_base(monkeypatch):
    """A fresh loopback port; whatever runtime a test leaves there is stopped afterwards."""
    monkeypatch.setenv("ROUTERLS_LOCAL_IDLE_S", "120")  # a crashed test leaves nothing for long
    base = f"http://127.0.0.1:{free_port()}/v1"
    yield base
    runtime.stop(base)


def local_config(api_base: str, *more_tiers: tuple[str, dict]) -> dict:
    return {
        "tiers": {
            "local": {"models": [
                {"model": f"openai/{GEMMA}", "api_base": api_base, "style": "completion",
                 "price": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}},
                {"model": f"openai/{SMOL}", "api_base": api_base,
                 "price": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}}]},
            "mid": {"models": [{"model": "anthropic/claude-haiku-4-5", "api_key_env": "ANTHROPIC_API_KEY"}]},
            **dict(more_tiers),
        },
        "tasks": {"docstring": "local", "format": "local", "fix": "mid", "explain": "mid"},
        "gateway": {"retries": 0, "backoff_s": 0, "max_output_tokens": 64},  # short answers: fast tests
    }


def test_started_on_demand_reused_and_stopped(api_base):
    first = runtime.ensure_running(api_base, [GEMMA, SMOL])
    assert not first.reused and set(first.models) == {GEMMA, SMOL}
    again = runtime.ensure_running(api_base, [SMOL])
    assert again.reused and again.pid == first.pid
    state = json.loads((runtime.runtime_dir() / f"runtime-{first.port}.json").read_text())
    assert state["pid"] == first.pid and state["files"][GEMMA].endswith(GEMMA)
    stopped = runtime.stop(api_base)
    assert stopped is not None and stopped.pid == first.pid
    assert runtime.served_models(api_base) is None
    assert not (runtime.runtime_dir() / f"runtime-{first.port}.json").exists()
    assert runtime.stop(api_base) is None  # nothing left to stop


def test_two_processes_asking_at_once_share_one_runtime(api_base):
    code = ("import sys; from routerls.backends.local import runtime; "
            f"print(runtime.ensure_running({api_base!r}, [{SMOL!r}]).pid)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ}) for _ in range(3)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1 and all(p.returncode == 0 for p in procs), pids


def test_a_real_docstring_with_no_keys_costs_nothing_and_is_recorded(api_base, tmp_path, monkeypatch):
    from routerls import spend_report
    from routerls.engine import Engine
    from routerls.ledger import Ledger, default_path
    from routerls.request import RunRequest
    from routerls.text import Range

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    source = (ROOT / "examples" / "shapes.py").read_text()
    engine = Engine(structure(local_config(api_base)), Ledger(default_path()))
    req = RunRequest(action="docstring", path=str(tmp_path / "shapes.py"), text=source,
                     range=Range.of(0, 0, 2, 0))
    result = asyncio.run(engine.run(req))
    assert result.outcome == "ok", result.message
    assert (result.tier, result.model.name, result.cost_usd) == ("local", GEMMA, 0.0)
    from routerls.edits import apply_edits

    new = apply_edits(source, result.edit.edits)
    tree = ast.parse(new)
    doc = ast.get_docstring(tree.body[0])
    assert doc and doc[0].isupper() and doc.endswith(".")
    assert new.replace(f'    """{doc}"""\n', "", 1) == source  # nothing else touched
    rows = spend_report.report(Ledger(default_path()), "model")
    assert [(r.key, r.calls, r.cost_usd) for r in rows] == [(f"openai/{GEMMA}", 1, 0.0)]


def test_a_cloud_task_without_its_key_runs_locally_and_says_why(api_base, tmp_path, monkeypatch):
    from routerls.engine import Engine
    from routerls.request import RunRequest
    from routerls.text import Range

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    engine = Engine(structure(local_config(api_base)))
    source = "def add(a, b):\n    return a - b\n"
    req = RunRequest(action="explain", path=str(tmp_path / "a.py"), text=source,
                     range=Range.of(0, 0, 2, 0), tier=None)
    result = asyncio.run(engine.run(req))
    assert result.outcome == "ok", result.message
    assert result.tier == "local" and result.edit.markdown
    assert result.plan.decision.tier == "mid"
    assert "no ANTHROPIC_API_KEY: used local" in result.reason


def test_killing_the_runtime_mid_answer_falls_back_at_once(api_base, model_server):
    started_runtime = runtime.ensure_running(api_base, [SMOL])
    model_server.script("fallback answer", model="gpt-4o-mini")
    smol = ModelEntry(model=f"openai/{SMOL}", api_base=api_base, timeout_s=30)
    cloud = ModelEntry(model="openai/gpt-4o-mini", api_base=model_server.url)
    killed = []

    def on_token(n: int) -> None:
        if not killed:
            killed.append(time.monotonic())
            os.kill(started_runtime.pid, signal.SIGKILL)

    messages = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
    started = time.monotonic()
    got = asyncio.run(gateway.complete(messages, [("local", smol), ("cheap", cloud)],
                                       GatewaySettings(retries=1, backoff_s=0.1), on_token=on_token))
    assert killed, "the runtime never produced a token"
    assert got.text == "fallback answer" and got.tier == "cheap"
    local_attempts = [a for a in got.attempts if a.tier == "local"]
    assert local_attempts and {a.outcome for a in local_attempts} <= {"connection_error", "bad_response"}
    assert all(a.error for a in local_attempts)
    assert time.monotonic() - started < 15  # a clear failure, never a hang


def test_a_killed_runtime_is_started_again_by_the_next_request(api_base):
    first = runtime.ensure_running(api_base, [SMOL])
    os.kill(first.pid, signal.SIGKILL)
    time.sleep(0.2)
    config = structure(local_config(api_base))
    chain = [("local", m) for m in config.tiers["local"].models]
    prepared = availability.prepare_sync(config, "local", chain, environ={})
    assert prepared.runtime is not None and prepared.runtime.pid != first.pid
    assert [m.name for _, m in prepared.chain] == [GEMMA, SMOL]


def test_the_built_in_config_points_at_installed_models():
    config = load_config(files=[ROOT / "routerls" / "defaults.yaml"])
    for entry in config.tiers["local"].models:
        assert models.model_path(entry.name).is_file()


def test_the_first_run_says_on_stderr_what_it_waits_for(api_base, tmp_path, monkeypatch):
    """Starting the runtime, loading litellm and the model's first token are lines on stderr,
    each with the seconds since the command started; stdout carries only the result."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    # the user's own config: a workspace's `tiers.local` would need `routerls trust`
    config = tmp_path / "routerls.yaml"
    config.write_text(json.dumps(local_config(api_base)))  # JSON is YAML
    (tmp_path / "shapes.py").write_text((ROOT / "examples" / "shapes.py").read_text())
    proc = subprocess.run([sys.executable, "-m", "routerls", "run", "docstring", "shapes.py:1-2",
                           "--write"], check=False, cwd=tmp_path, capture_output=True, text=True,
                          timeout=180,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ROUTERLS_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    port = api_base.rsplit(":", 1)[1].split("/")[0]
    lines = proc.stderr.splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    started = first(f"starting the local runtime on 127.0.0.1:{port}, loading {GEMMA}, {SMOL}")
    ready = first("the local runtime answers (pid ")
    answering = first(f"{GEMMA} is answering")
    assert started < ready < answering, proc.stderr
    assert any("litellm loaded in" in line for line in lines), proc.stderr
    for line in lines[started:answering + 1]:
        assert line.startswith("[") and line.split("]")[0].strip("[ s").replace(".", "").isdigit()
    assert "local · gemma-3-270m-q4_k_m.gguf" in proc.stdout
    assert "runtime" not in proc.stdout and "litellm" not in proc.stdout
    assert ast.get_docstring(ast.parse((tmp_path / "shapes.py").read_text()).body[0])


def test_a_slow_start_is_reported_while_it_lasts(api_base, monkeypatch, caplog):
    monkeypatch.setattr(runtime, "STILL_LOADING_S", 0.2)
    with caplog.at_level("INFO", logger="routerls.backends.local.runtime"):
        runtime.ensure_running(api_base, [GEMMA, SMOL])
    said = [r.getMessage() for r in caplog.records if r.name == "routerls.backends.local.runtime"]
    start = next(i for i, m in enumerate(said) if m.startswith("starting the local runtime"))
    assert said[-1].startswith("the local runtime answers")
    # loading two models takes longer than 0.2 s, so the wait was reported as it went
    assert any(m.startswith("… the local runtime is still loading its models (")
               for m in said[start + 1:-1]), said


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on, from /proc (socket inodes of its fds)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_llamacpp_own_listener_refuses_everyone_but_the_worker(api_base):
    """xllamacpp opens llama.cpp's HTTP server beside our routes; nobody may use it."""
    import urllib.error
    import urllib.request

    rt = runtime.ensure_running(api_base, [SMOL])
    others = _listening_ports(rt.pid) - {rt.port}
    assert others, "expected llama.cpp's own listener beside the worker's port"
    for port in others:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", method="POST",
                                     data=json.dumps({"prompt": "hi", "max_tokens": 2}).encode(),
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 401
    # while our own route answers
    req = urllib.request.Request(api_base + "/completions", method="POST",
                                 data=json.dumps({"model": SMOL, "prompt": "def f():", "max_tokens": 2}).encode())
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert json.load(resp)["choices"][0]["text"] is not None
