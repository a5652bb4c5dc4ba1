#!/usr/bin/env bash
# The Debian packages the editor tests need, installed where missing, in one apt-get step.
#   editors      Neovim 0.7.2, Emacs with eglot
#   code-server  Chromium and the libraries code-server's native modules build against (Debian's
#                SQLite among them: VS Code's sqlite3 module links it instead of compiling its own)
#   all          both (scripts/test.sh: one apt-get before the installs that then run side by side,
#                since two apt-get runs at once would fight over dpkg's lock)
# Exits 3, naming the packages, when some are missing and this is not root with apt-get.
# Only the package registries are used.
set -euo pipefail
EDITORS=(neovim emacs-nox elpa-eglot)
CODE_SERVER=(chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev libsqlite3-dev pkg-config)
case "${1:-all}" in
  editors) want=("${EDITORS[@]}") ;;
  code-server) want=("${CODE_SERVER[@]}") ;;
  all) want=("${EDITORS[@]}" "${CODE_SERVER[@]}") ;;
  *) echo "usage: $0 [editors|code-server|all]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "install-system: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-system: not root or no apt-get: ${missing[*]} not installed" >&2
  exit 3
fi
