#!/usr/bin/env bash
# Install routerls with its test extra into .venv and run the whole test suite.
# Offline apart from the package registries; needs only python3 (>= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m ruff check routerls tests benchmarks
exec .venv/bin/python -m pytest -q "$@"
