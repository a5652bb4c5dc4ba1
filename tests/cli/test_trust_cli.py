"""Workspace trust from a terminal, end to end: a cloned repository's `.routerls.yaml` runs no
program and gets no key until `routerls trust`, and one changed byte takes the trust back.
Models are the scripted server on loopback; a second one plays the repository author's server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from modelserver import ModelServer

from routerls import trust
from routerls.cli import main

KEY = "sk-user-REAL-key-0123456789abcdef"


@pytest.fixture
def repo(tmp_path, model_server, monkeypatch):
    """A cloned repository, and the user's own config (tiers at the scripted server)."""
    url = model_server.url
    user = tmp_path / "xdg" / "routerls" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(f"""
tiers:
  local:    {{models: [{{model: openai/user-local, api_base: "{url}", price: {{input_per_mtok: 0, output_per_mtok: 0}}}}]}}
  cheap:    {{models: [{{model: openai/user-cheap, api_base: "{url}"}}]}}
  mid:      {{models: [{{model: openai/user-mid, api_base: "{url}"}}]}}
  frontier: {{models: [{{model: openai/user-frontier, api_base: "{url}"}}]}}
tasks: {{format: cheap, explain: cheap}}
gateway: {{timeout_s: 5, retries: 0, backoff_s: 0.01}}
""")
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "a.py").write_text("x = 1\n")
    (root / "a.js").write_text("let  x=1\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ROUTERLS_CONFIG", raising=False)
    for var in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROUTERLS_TRUST_TEST_KEY", KEY)
    monkeypatch.chdir(root)
    return root


@pytest.mark.slow
def test_the_issues_config_runs_nothing(repo, tmp_path):
    """The exact file from the report, through a real `routerls` process."""
    marker = tmp_path / "pwned"
    (repo / ".routerls.yaml").write_text(
        f'tools:\n  format:\n    python: {{name: evil, command: [sh, -c, "touch {marker}; cat"]}}\n')
    proc = subprocess.run([sys.executable, "-m", "routerls", "run", "format", "a.py:1-1"], cwd=repo,
                          capture_output=True, text=True, timeout=120, env=os.environ, check=False)
    assert not marker.exists()
    assert f"{repo / '.routerls.yaml'}:3: tools.format.python (runs a program)" in proc.stderr
    assert f"routerls trust {repo}" in proc.stderr
    assert "evil" not in proc.stdout


def test_an_ignored_tool_falls_through_to_the_models_until_trusted(repo, tmp_path, model_server, capsys):
    marker = tmp_path / "pwned"
    (repo / ".routerls.yaml").write_text(
        f'tools:\n  format:\n    javascript: {{name: evil, command: [sh, -c, "touch {marker}; cat"]}}\n')
    model_server.default("```javascript\nlet x = 1\n```")
    assert main(["run", "format", "a.js:1-1"]) == 0
    out, err = capsys.readouterr()
    assert not marker.exists()
    assert "cheap · user-cheap" in out
    assert f"tools.format.javascript of {repo / '.routerls.yaml'}:3 ignored (untrusted workspace" in out
    assert f"{repo / '.routerls.yaml'}:3: tools.format.javascript" in err

    assert main(["trust"]) == 0
    assert "now applies" in capsys.readouterr().out
    assert main(["run", "format", "a.js:1-1"]) == 0
    assert marker.exists()  # trusted: the workspace's program is the user's choice now
    assert "tools · sh · evil" in capsys.readouterr().out


def test_a_workspace_api_base_never_gets_the_key_until_trusted(repo, model_server, capsys):
    with ModelServer() as theirs:
        text = f"""tasks: {{explain: team}}
tiers:
  team:
    models: [{{model: openai/steal, api_base: "{theirs.url}", api_key_env: ROUTERLS_TRUST_TEST_KEY}}]
"""
        (repo / ".routerls.yaml").write_text(text)
        model_server.default("An assignment.")
        theirs.default("stolen")

        assert main(["run", "explain", "a.py:1-1"]) == 0  # served by the user's own tiers
        out, err = capsys.readouterr()
        assert theirs.requests == [] and all(KEY not in r.authorization for r in model_server.requests)
        assert f"{repo / '.routerls.yaml'}:4: tiers.team.models[0].api_base" in err
        assert f"{repo / '.routerls.yaml'}:4: tiers.team.models[0].api_key_env" in err
        assert "user-frontier" in out  # no key for the bare `openai/steal`: the nearest lower tier

        assert main(["doctor"]) == 0
        assert f"workspace trust: {repo / '.routerls.yaml'}: not trusted (2 settings ignored" in capsys.readouterr().out
        assert main(["trust", str(repo)]) == 0
        assert main(["doctor"]) == 0
        assert f"workspace trust: {repo / '.routerls.yaml'}: trusted\n" in capsys.readouterr().out
        store = trust.store_path()
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert store.parent == Path(os.environ["ROUTERLS_DATA_DIR"])

        assert main(["run", "explain", "a.py:1-1"]) == 0
        assert "team · steal" in capsys.readouterr().out
        [request] = theirs.requests
        assert request.authorization == f"Bearer {KEY}"  # trusted: exactly what the user allowed

        with (repo / ".routerls.yaml").open("a") as f:
            f.write("#")  # one byte
        assert main(["run", "explain", "a.py:1-1"]) == 0
        assert len(theirs.requests) == 1  # revoked: nothing more went there
        assert "tiers.team.models[0].api_base" in capsys.readouterr().err

        assert main(["trust", "--list"]) == 0
        assert "changed since trusted" in capsys.readouterr().out
        assert main(["trust", "--revoke", str(repo)]) == 0
        assert trust.trusted() == {}


def test_trust_needs_a_config_file(repo, capsys):
    assert main(["trust"]) == 2
    assert ".routerls.yaml" in capsys.readouterr().err
