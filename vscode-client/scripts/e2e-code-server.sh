#!/usr/bin/env bash
# The extension tested inside real VS Code: builds and packages the .vsix, installs code-server
# and the browser where missing (install-code-server.sh), then runs e2e/codeserver.test.mjs, which
# starts the scripted model server, code-server on a free loopback port against a temporary
# workspace, and headless Chromium, drives them with Playwright, and stops all of them.
# Screenshots land in vscode-client/test-results/. Arguments go to `node --test`;
# ROUTERLS_E2E_FILES picks the test files (default: the main walk-through).
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUTERLS_PYTHON=${ROUTERLS_PYTHON:-$(cd .. && pwd)/.venv/bin/python}
bash scripts/install-code-server.sh
if [ ! -x node_modules/.bin/esbuild ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent package >/dev/null
# shellcheck disable=SC2086 # a list of files
exec e2e/.node24/bin/node --test --test-concurrency=1 --test-reporter=tap "$@" ${ROUTERLS_E2E_FILES:-e2e/codeserver.test.mjs}
