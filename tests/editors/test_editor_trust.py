"""The server's trust action through each editor's own `window/showMessageRequest` handling, with
no plugin code for it: Neovim 0.7 (inputlist) and 0.11 (vim.ui.select), Emacs/eglot
(completing-read). The user picks "Trust this workspace's routerls config"; the trust lands in
the store for the workspace file's exact content."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from editor_env import SERVER_CMD, workspace

from routerls import trust

from .test_editor_emacs import _has_eglot
from .test_editor_nvim import _nvim

REPO = Path(__file__).resolve().parents[2]
EVIL = 'tools:\n  format:\n    python: {name: evil, command: [sh, -c, "touch pwned; cat"]}\n'


def _run(argv: list[str], tmp_path: Path, url: str, monkeypatch) -> tuple[dict, Path]:
    ws, env = workspace(tmp_path, url)
    (ws / ".routerls.yaml").write_text(EVIL)
    out, store = tmp_path / "out.json", tmp_path / "data" / "trust.json"
    env.update(ROUTERLS_TEST_CMD=json.dumps(SERVER_CMD), ROUTERLS_TEST_FILE=str(ws / "area.py"),
               ROUTERLS_TEST_OUT=str(out), ROUTERLS_TEST_STORE=str(store))
    done = subprocess.run(argv, cwd=ws, env=env, check=False, capture_output=True, text=True, timeout=150,
                          stdin=subprocess.DEVNULL)
    result = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0 and "error" not in result, (done.returncode, result, done.stderr[-3000:])
    monkeypatch.setenv("ROUTERLS_DATA_DIR", str(tmp_path / "data"))
    assert trust.state(ws) == "trusted"  # for exactly the content on disk
    assert not (ws / "pwned").exists()
    return result, ws


@pytest.mark.parametrize("version", ["0.7", "0.11"])
def test_neovims_own_handler_carries_the_trust_action(version, tmp_path, model_server_process, monkeypatch):
    nvim = _nvim(version)
    if nvim is None:
        pytest.skip(f"Neovim {version} not installed (scripts/install-editors.sh installs it)")
    result, ws = _run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={REPO / 'editors' / 'nvim'}",
                       "-c", f"luafile {REPO / 'editors' / 'nvim' / 'test' / 'trust.lua'}"],
                      tmp_path, model_server_process.url, monkeypatch)
    asked = "\n".join(result["asked"])
    assert f"{ws / '.routerls.yaml'}:3: tools.format.python (runs a program)" in asked
    assert "Trust this workspace's routerls config" in asked and result["version"] == version


def test_eglots_own_handler_carries_the_trust_action(tmp_path, model_server_process, monkeypatch):
    emacs = shutil.which("emacs")
    if emacs is None or not _has_eglot(emacs):
        pytest.skip("emacs with eglot not installed (scripts/install-editors.sh installs emacs-nox and elpa-eglot)")
    result, ws = _run([emacs, "--batch", "-Q", "-l", str(REPO / "editors" / "emacs" / "test" / "trust-test.el")],
                      tmp_path, model_server_process.url, monkeypatch)
    prompt, *choices = result["asked"]
    assert f"{ws / '.routerls.yaml'}:3: tools.format.python" in prompt
    assert choices == ["Trust this workspace's routerls config", "Not now"]
