"""The VS Code extension inside real VS Code: `vscode-client/scripts/e2e-code-server.sh` packages the
.vsix, starts code-server against a temporary workspace with the user's config pointing at the scripted
model server, and drives it with Playwright in headless Chromium; every check reads the page (status
bar, Ctrl+. menu, editor text, notifications, markdown preview, hover). Screenshots are left in
`vscode-client/test-results/`. `vscode-client/scripts/install-code-server.sh` (run by scripts/test.sh)
installs code-server, Node 24 and Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "vscode-client"
E2E = CLIENT / "e2e"

_missing = [what for what, there in (
    ("code-server (vscode-client/e2e/node_modules)", (E2E / "node_modules" / "code-server" / "out" / "node" / "entry.js").exists()),
    ("playwright-core", (E2E / "node_modules" / "playwright-core").exists()),
    ("Node 24 (vscode-client/e2e/.node24)", (E2E / ".node24" / "bin" / "node").exists()),
    ("chromium", Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists()),
    ("npm", shutil.which("npm") is not None),
    ("vscode-client/node_modules", (CLIENT / "node_modules" / ".bin" / "esbuild").exists()),
) if not there]

pytestmark = [
    pytest.mark.skipif(bool(_missing),
                       reason=f"not installed: {', '.join(_missing)}; run vscode-client/scripts/install-code-server.sh"),
    # the browser steps wait with timeouts of their own: beside two other test workers on 2 cores
    # they failed (4 of 10 steps after 141 s), so scripts/test.sh runs these with the timing tests
    pytest.mark.timing,
]

TESTS = 10


def _e2e(env: dict[str, str]) -> tuple[int, str]:
    """The script's exit status and output; on a timeout, what it printed until then (its TAP
    names the step that hung), within pytest's own timeout so that the output is shown."""
    try:
        done = subprocess.run(["bash", str(CLIENT / "scripts" / "e2e-code-server.sh")], env=env, text=True,
                              capture_output=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        said = [x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (exc.stdout, exc.stderr)]
        return -1, "".join(said) + "\n(timed out after 240 s)"
    return done.returncode, done.stdout + done.stderr


@pytest.mark.timeout(300)
def test_extension_in_code_server():
    env = {**os.environ, "ROUTERLS_PYTHON": sys.executable, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    code, out = _e2e(env)
    assert code == 0 and "# fail 0" in out and f"# pass {TESTS}" in out, out[-8000:]
    for line in out.splitlines():  # the walk-through's own notes (a step it had to repeat)
        if line.startswith("# ") and "chose it again" in line:
            warnings.warn(line[2:], stacklevel=1)
    shots = {p.name for p in (CLIENT / "test-results").glob("*.png")}
    assert {"01-spend-at-start.png", "04-fix-applied.png", "07-dashboard.png", "09-cancelled.png",
            "12-dashboard-refreshed.png"} <= shots, shots


@pytest.mark.timeout(300)
def test_restricted_mode_shows_what_was_ignored_and_runs_nothing():
    """VS Code's Workspace Trust on, the folder untrusted: the message names the workspace's program,
    offers no trust, and Format runs the user's ruff; trusting the folder brings routerls' offer."""
    env = {**os.environ, "ROUTERLS_PYTHON": sys.executable, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "ROUTERLS_E2E_FILES": "e2e/restricted.test.mjs"}
    code, out = _e2e(env)
    assert code == 0 and "# fail 0" in out and "# pass 2" in out, out[-8000:]
    shots = {p.name for p in (CLIENT / "test-results" / "restricted-mode").glob("*.png")}
    assert {"01-restricted-mode-message.png", "03-formatted-nothing-ran.png",
            "04-trust-offered-after-vscode-trust.png"} <= shots, shots
