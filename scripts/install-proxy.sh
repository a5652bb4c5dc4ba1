#!/usr/bin/env bash
# A LiteLLM proxy in its own venv (.proxy-venv), for the team-gateway test and for trying the
# setup the README describes. Separate from .venv: the proxy's extra pins (rich<14, …) clash with
# routerls' own, and the proxy is a separate server anyway. litellm 1.110's [proxy] extra needs a
# `litellm-proxy` package the registry does not serve, so the proxy is 1.108.5 (the newest whose pinned extras the registry serves).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .proxy-venv/bin/python ] || "$PY" -m venv .proxy-venv
.proxy-venv/bin/python -m pip install -q --disable-pip-version-check "litellm[proxy]==1.108.5"
.proxy-venv/bin/litellm --version >/dev/null 2>&1 || .proxy-venv/bin/python -c "import litellm.proxy.proxy_server"
echo "LiteLLM proxy ready: .proxy-venv/bin/litellm"
