"""The embedded local tier, measured: runtime cold start, time to first token, tokens per second.

For each embedded model: start a fresh runtime serving only that model on a free loopback port
(cold start = spawn until `/v1/models` answers, model load included), then stream the real
docstring prompt (Gemma, completion route) or the real few-shot format chat (SmolLM2) several
times: time to first token (prompt prefill included) and decode tokens per second after it.
Baseline in the same run: a `/v1/models` round trip to the same runtime (the HTTP floor).

    python benchmarks/bench_local.py [--runs 5] [--json]

Needs `routerls[local]` (`bash scripts/install-local.sh`). Uses a throwaway data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routerls import prompts
from routerls.backends.local import models
from routerls.backends.local import runtime as local_runtime

SELECTION = "def perimeter(width, height):\n    total = 2 * (width + height)\n    return total\n"
# each run asks about a different function: the shared few-shot prefix stays in llama.cpp's
# prompt cache (as it does in real use), the code under the cursor is new every time
NAMES = ("perimeter", "outline", "border_length", "edge_sum", "rim", "fence_length", "hull", "ring")


def _selection(i: int) -> str:
    return SELECTION.replace("perimeter", NAMES[i % len(NAMES)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stream(api_base: str, route: str, body: dict) -> tuple[float, float, int]:
    """(seconds to first token, seconds in total, tokens) for one streamed request."""
    req = urllib.request.Request(f"{api_base}/{route}", data=json.dumps({**body, "stream": True}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    started = time.perf_counter()
    first = None
    tokens = 0
    with urllib.request.urlopen(req, timeout=120) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = (json.loads(line[6:]).get("choices") or [{}])[0]
            if choice.get("text") or (choice.get("delta") or {}).get("content"):
                tokens += 1
                if first is None:
                    first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started, tokens


def bench(name: str, runs: int) -> dict:
    api_base = f"http://127.0.0.1:{_free_port()}/v1"
    t0 = time.perf_counter()
    runtime = local_runtime.ensure_running(api_base, [name], idle_exit_s=120)
    cold = time.perf_counter() - t0
    try:
        completion = models.EMBEDDED[name].style == "completion"

        def request(i: int) -> tuple[str, dict]:
            if completion:
                # no stop: decode speed needs more than the handful of tokens a docstring takes
                cp = prompts.docstring_completion(_selection(i))
                return "completions", {"model": name, "prompt": cp.prompt, "max_tokens": 64}
            msgs = prompts.few_shot_messages("format", _selection(i), "python")
            return "chat/completions", {"model": name, "messages": msgs, "max_tokens": 64}

        # the first request after a cold start, exactly as the docstring/format action sends it
        route, body = request(len(NAMES) - 1)
        if completion:
            cp = prompts.docstring_completion(_selection(len(NAMES) - 1))
            body = {**body, "max_tokens": cp.max_tokens, "stop": list(cp.stop)}
        probe = _stream(api_base, route, body)
        ttft, rate, floor = [], [], []
        for i in range(runs):
            route, body = request(i)
            first, total, tokens = _stream(api_base, route, body)
            ttft.append(first)
            rate.append((tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0)
            t = time.perf_counter()
            local_runtime.served_models(api_base)
            floor.append(time.perf_counter() - t)
        out = {"model": name, "style": models.EMBEDDED[name].style,
               "file_mb": round(models.model_path(name).stat().st_size / 1e6),
               "cold_start_s": round(cold, 2),
               "ttft_ms_median": round(statistics.median(ttft) * 1000),
               "tokens_per_s_median": round(statistics.median(rate), 1),
               "http_floor_ms_median": round(statistics.median(floor) * 1000, 2), "runs": runs}
        out["first_request_s"] = round(probe[1], 2)
        return out
    finally:
        local_runtime.stop(runtime.api_base)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not models.runtime_installed():
        print(f"{models.RUNTIME} (llama.cpp) is not installed; {models.INSTALL_HINT}", file=sys.stderr)
        return 1
    os.environ.setdefault("ROUTERLS_DATA_DIR", tempfile.mkdtemp(prefix="routerls-bench-"))
    results = [bench(name, args.runs) for name in models.EMBEDDED]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{os.cpu_count()} CPUs; medians of {args.runs} runs after a first request")
    for r in results:
        print(f"{r['model']} ({r['style']}, {r['file_mb']} MB): cold start {r['cold_start_s']} s, "
              f"first request after it {r['first_request_s']} s, first token {r['ttft_ms_median']} ms, "
              f"{r['tokens_per_s_median']} tokens/s (HTTP floor {r['http_floor_ms_median']} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
