#!/usr/bin/env bash
# Install routerls into .venv (created if missing). Offline apart from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
echo "routerls installed: $(.venv/bin/routerls --help | head -1)"
