"""Emacs with eglot (`editors/emacs/routerls.el`) in batch mode, on Debian's emacs-nox and
elpa-eglot (`scripts/install-editors.sh`): an AI action picked from eglot's code-action menu on a
region, the server's edit applied by eglot (`eglot-confirm-server-initiated-edits` nil), and the
spend in the mode line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from editor_env import EDITED, REFACTORED, SERVER_CMD, fence, workspace
from modelserver import Reply

REPO = Path(__file__).resolve().parents[2]
TEST_EL = REPO / "editors" / "emacs" / "test" / "routerls-test.el"


def _has_eglot(emacs: str) -> bool:
    probe = subprocess.run([emacs, "--batch", "-Q", "--eval",
                            ("(progn (require 'package) (add-to-list 'package-directory-list "
                             "\"/usr/share/emacs/site-lisp/elpa\") (package-initialize) (require 'eglot))")],
                           check=False, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return probe.returncode == 0


def test_eglot_code_action_edits_and_the_mode_line_shows_spend(tmp_path, model_server_process):
    emacs = shutil.which("emacs")
    if emacs is None or not _has_eglot(emacs):
        pytest.skip("emacs with eglot not installed (scripts/install-editors.sh installs emacs-nox and elpa-eglot)")
    ws, env = workspace(tmp_path, model_server_process.url)
    model_server_process.script(Reply(text=fence(REFACTORED), prompt_tokens=1000, completion_tokens=200),
                                model="rl-mid")
    out = tmp_path / "out.json"
    env.update(ROUTERLS_TEST_CMD=json.dumps(SERVER_CMD), ROUTERLS_TEST_FILE=str(ws / "area.py"),
               ROUTERLS_TEST_OUT=str(out), ROUTERLS_TEST_HTML=str(tmp_path / "spend.html"), ROUTERLS_TEST_EXPECTED=EDITED)
    done = subprocess.run([emacs, "--batch", "-Q", "-l", str(TEST_EL)], cwd=ws, env=env,
                          check=False, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    result = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0 and "error" not in result, (done.returncode, result, done.stderr[-3000:])
    assert result["modeline_start"] == "AI $0.0000 today · $0.0000 session"
    assert "AI: Refactor (mid · rl-mid)" in result["titles"]
    assert result["text"] == EDITED
    assert (ws / "area.py").read_text() == EDITED
    assert "AI … rl-mid · $0.0000 today" in result["modelines"]  # while the model ran
    assert result["modeline_done"] == "AI $0.0045 today · $0.0045 session"
    # the dashboard: written where asked, handed to the browser, today's total as the status line
    assert result["html_opened"] == str(tmp_path / "spend.html")
    html = (tmp_path / "spend.html").read_text(encoding="utf-8")
    assert '<svg class="chart" data-chart="spend"' in html and 'data-model="rl-mid"' in html
    assert re.search(r'data-total="today"[^>]*><span class="what">today</span><span class="value">\$0.0045<', html)
