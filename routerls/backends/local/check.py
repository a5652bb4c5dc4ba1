"""The smoke check `scripts/install-local.sh` runs: each embedded model loads and writes a few tokens.

`python -m routerls.backends.local check` runs `… smoke NAME` for each model in a child process,
so a build that crashes on this CPU is named, not just fatal.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from routerls.backends.local import models
from routerls.backends.local.models import EMBEDDED, INSTALL_HINT, RUNTIME
from routerls.backends.local.runtime import MAIN_MODULE
from routerls.backends.local.worker import load


def smoke_one(name: str) -> int:
    """Load one embedded model in this process and generate a few tokens."""
    started = time.perf_counter()
    model = load(f"{name}={models.model_path(name)}:{EMBEDDED[name].style}:512")
    loaded = time.perf_counter()
    out = model.llm.handle_completions({"prompt": "def add(a, b):\n    return", "max_tokens": 4,
                                        "temperature": 0.0})
    if "error" in out:
        print(f"{name}: {out['error'].get('message')}", file=sys.stderr)
        return 1
    text = out["choices"][0]["text"]
    print(f"{name}: loaded in {loaded - started:.2f} s, wrote {text!r} in "
          f"{time.perf_counter() - loaded:.2f} s ({Path(model.path).name})")
    return 0


def main() -> int:
    """Each embedded model in a child process, so a crashing build is named, not just fatal."""
    if not models.runtime_installed():
        print(f"{RUNTIME} (llama.cpp) is not installed; {INSTALL_HINT}", file=sys.stderr)
        return 1
    failed = 0
    for name in EMBEDDED:
        proc = subprocess.run([sys.executable, "-m", MAIN_MODULE, "smoke", name],
                              check=False, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            how = (f"crashed with signal {-proc.returncode}" if proc.returncode < 0
                   else f"failed (exit {proc.returncode})")
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            print(f"{name}: {how} {tail[0]}".rstrip(), file=sys.stderr)
    if failed:
        print(f"the local runtime does not work on this machine: the prebuilt {RUNTIME} wheel needs an "
              "x86-64 CPU with AVX2 (or arm64); use Ollama for the local tier instead "
              "(README, Local models)", file=sys.stderr)
    return 1 if failed else 0

