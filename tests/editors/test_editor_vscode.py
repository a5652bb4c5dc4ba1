"""The VS Code extension (`vscode-client/`): type check, unit tests for the status bar and the
settings translation, the Node end-to-end test that drives `routerls serve` as the extension does,
and the `.vsix` package. `scripts/install-editors.sh` installs the Node dependencies (`npm ci`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "vscode-client"

pytestmark = [
    pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None,
                       reason="node/npm not installed (scripts/install-editors.sh needs Node 20)"),
    pytest.mark.skipif(not (CLIENT / "node_modules" / ".bin" / "esbuild").exists(),
                       reason="vscode-client/node_modules missing: run scripts/install-editors.sh"),
]


def _no_network_prefix() -> list[str]:
    """`unshare -n` (an empty network namespace) where we may use it, to prove a step offline."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], check=False, capture_output=True, timeout=30)
    return ["unshare", "-n"] if probe.returncode == 0 else []


def npm(*args: str, timeout: float = 240, offline: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROUTERLS_PYTHON": sys.executable, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    prefix = _no_network_prefix() if offline else []
    done = subprocess.run([*prefix, "npm", "run", "--silent", *args], cwd=CLIENT, env=env, text=True, check=False,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"npm run {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return done


def test_typescript_type_checks():
    npm("typecheck")


def test_status_bar_and_settings_unit_tests_pass():
    out = npm("test").stdout
    assert "# fail 0" in out and "# pass 8" in out, out[-2000:]


def test_extension_drives_the_server_end_to_end():
    out = npm("e2e").stdout
    assert "# fail 0" in out and "# pass 4" in out, out[-3000:]
    # the spend the status bar shows after the run is asserted inside the test itself
    assert "ok 2 - refactor: titled with tier and model, run, edit applied, spend shown" in out


def test_vsix_packages_offline():
    vsix = CLIENT / "routerls.vsix"
    vsix.unlink(missing_ok=True)
    npm("package", offline=True)
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = z.read("extension/package.json").decode()
    assert {"extension/dist/extension.js", "extension/package.json"} <= names
    assert not any(n.startswith("extension/src/") or "node_modules" in n for n in names), names
    for command in ("routerls.runWithTier", "routerls.pickStrategy", "routerls.showReport",
                    "routerls.restartServer", "routerls.hover.explain", "routerls.budgets.dailyUsd"):
        assert command in manifest
