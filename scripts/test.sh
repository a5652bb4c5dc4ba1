#!/usr/bin/env bash
# Install routerls with its test extra into .venv and run the whole test suite.
# Offline apart from the package registries; needs only python3 (>= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# the embedded local tier, so its real-model tests run too: builds llama.cpp once (about 5 min on
# 2 cores; the wheel is kept under build/wheels), then seconds. ROUTERLS_SKIP_LOCAL=1 skips it
# (those tests then skip, saying why).
[ "${ROUTERLS_SKIP_LOCAL:-0}" = 1 ] || bash scripts/install-local.sh
bash scripts/install-proxy.sh    # a LiteLLM proxy in .proxy-venv for the team-gateway test (~1 min)
bash scripts/install-editors.sh  # Neovim 0.7.2 + 0.11, Emacs + eglot, the VS Code client's npm deps
bash vscode-client/scripts/install-code-server.sh  # code-server, Node 24, Chromium for the in-VS-Code tests (~3 min once)
export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m ruff check routerls tests benchmarks
exec .venv/bin/python -m pytest -q "$@"
