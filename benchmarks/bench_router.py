"""Route-decision latency and `import routerls.router` time.

    python benchmarks/bench_router.py [--n 10000] [--json]

Each figure comes with a baseline measured in the same run, so the ratio means something on any
machine: decisions against a bare `config.tasks[task]` lookup, the import against a bare
interpreter start. Decisions are timed twice: as configured, and with learned estimates
(`route.learn: on`; every task class × tier has outcomes, so the learned stage always runs):
warm, as in the server, where one estimates object serves every decision until an outcome
arrives and keeps the stage's answer per (task, tier); and cold, that memo emptied before each.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from routerls import learning
from routerls.layers import DEFAULTS_PATH, load_config
from routerls.router import Spend, route

SNIPPETS = [
    "def add(a, b):\n    return a + b\n",
    "class Cache:\n    def __init__(self):\n        self.items = {}\n" * 8,
    "for i in range(10):\n    print(i)\n" * 40,
    "async def fetch(session, url):\n    async with session.get(url) as r:\n        return await r.json()\n" * 100,
]
INSTRUCTIONS = [None, "make it faster", "@mid tidy this", "what are the trade-offs of this design?", None]
TASKS = ["fix", "explain", "tests", "refactor", "docstring", "format", "design"]
PRICES = {"local": (0.0, 0.0), "cheap": (0.1, 0.4), "mid": (1.0, 5.0), "frontier": (3.0, 15.0)}


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]


def time_calls(fn, inputs) -> list[float]:
    out = []
    for args in inputs:
        t = time.perf_counter_ns()
        fn(*args)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def import_time(module: str, runs: int = 7) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)" if module else "print(0)"
    vals = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(runs)]
    return statistics.median(vals) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    config = load_config(files=[DEFAULTS_PATH])
    by_model = {m.model: PRICES[t] for t, tier in config.tiers.items() for m in tier.models}
    price_of = by_model.get  # type: ignore[assignment]
    rng = random.Random(7)
    inputs = []
    for _ in range(args.n):
        text = rng.choice(SNIPPETS)
        inputs.append((rng.choice(TASKS), text, len(text) // 4, rng.choice(INSTRUCTIONS),
                       Spend(rng.uniform(0, 2.2), rng.uniform(0, 20))))

    def decide(task, text, tokens, instruction, spend):
        return route(config, task, text=task, tokens=tokens, instruction=instruction, spend=spend,
                     price_of=lambda e: price_of(e.model))

    counts = {(task, tier): (kept, 20) for task in TASKS for tier, kept in
              zip(config.tier_order, (rng.randint(10, 20) for _ in config.tier_order), strict=True)}
    learned = learning.estimates(counts, {})

    def decide_learned(task, text, tokens, instruction, spend):
        return route(config, task, text=task, tokens=tokens, instruction=instruction, spend=spend,
                     price_of=lambda e: price_of(e.model), learned=learned)

    def decide_learned_cold(task, text, tokens, instruction, spend):
        learned.moves.clear()
        return decide_learned(task, text, tokens, instruction, spend)

    def baseline(task, text, tokens, instruction, spend):
        return config.tiers[config.tasks[task]].models

    for fn in (decide, decide_learned, decide_learned_cold, baseline):  # warm up
        time_calls(fn, inputs[:500])
    route_p50, route_p99 = percentiles(time_calls(decide, inputs))
    learned_p50, learned_p99 = percentiles(time_calls(decide_learned, inputs))
    cold_p50, cold_p99 = percentiles(time_calls(decide_learned_cold, inputs))
    base_p50, base_p99 = percentiles(time_calls(baseline, inputs))
    imp = import_time("routerls.router")
    imp_json = import_time("json")
    litellm_loaded = subprocess.run(
        [sys.executable, "-c", "import routerls.router, sys; print('litellm' in sys.modules)"],
        check=False, capture_output=True, text=True).stdout.strip()
    result = {
        "decisions": args.n,
        "route_p50_us": round(route_p50, 2), "route_p99_us": round(route_p99, 2),
        "route_learned_p50_us": round(learned_p50, 2), "route_learned_p99_us": round(learned_p99, 2),
        "route_learned_cold_p50_us": round(cold_p50, 2), "route_learned_cold_p99_us": round(cold_p99, 2),
        "baseline_lookup_p50_us": round(base_p50, 2), "baseline_lookup_p99_us": round(base_p99, 2),
        "p99_ratio_vs_lookup": round(route_p99 / max(base_p99, 1e-3), 1),
        "import_routerls_router_ms": round(imp, 2), "import_json_ms": round(imp_json, 2),
        "import_ratio_vs_json": round(imp / max(imp_json, 1e-3), 1),
        "imports_litellm": litellm_loaded == "True",
        "goal_p99_us": 50, "meets_goal": max(route_p99, learned_p99, cold_p99) <= 50,
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
