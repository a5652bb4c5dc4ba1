"""What the checks cost: milliseconds added per action on the editor-task set.

    python benchmarks/bench_checks.py [--json]

Each case of `routerls/eval/data/editor.yaml` is laid out as `routerls eval` lays it out (its
code, and for fix/refactor its asserts as a test file beside it), and `checks.run` judges the
case's reference solution — the path a right answer takes, so every check runs to the end.
Measured twice per case: cold (the "before" test run not cached yet) and warm (cached, as for a
second action on the same code). No model is called; this is the checks alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from routerls import checks
from routerls import eval as evaluation
from routerls.checks import testrun
from routerls.config import ChecksSettings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(case: evaluation.Case, folder: Path) -> tuple[float, float, checks.Outcome]:
    path = evaluation.write_case(case, folder)
    subject = checks.Subject(
        action=case.action, result="replace", builtin=True, language="python", path=str(path),
        before_doc=case.code, after_doc=case.solution or case.code, before_sel=case.code,
        after_sel=case.solution or case.code, first_line=0, workspace_root=str(folder))
    times = []
    for _ in range(2):
        started = time.perf_counter()
        outcome = await checks.run(subject, ChecksSettings())
        times.append((time.perf_counter() - started) * 1000)
    return times[0], times[1], outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    testrun._CACHE.clear()
    for case in evaluation.editor_cases():
        with tempfile.TemporaryDirectory(prefix="routerls-bench-") as tmp:
            cold, warm, outcome = asyncio.run(measure(case, Path(tmp)))
        rows.append({"case": case.id, "action": case.action, "cold_ms": round(cold, 1),
                     "warm_ms": round(warm, 1), "failure": outcome.failure, "ran": outcome.summary})
    summary = {}
    for action in [*dict.fromkeys(r["action"] for r in rows), "all"]:
        mine = [r for r in rows if action in ("all", r["action"])]
        summary[action] = {kind: {"p50": round(statistics.median(r[f"{kind}_ms"] for r in mine), 1),
                                  "p95": round(percentile([r[f"{kind}_ms"] for r in mine], 95), 1)}
                           for kind in ("cold", "warm")}
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows, "load_average_1m": load}, indent=1))
        return 0
    print(f"checks cost on {len(rows)} editor cases (reference solutions; load average {load:.1f})")
    print(f"{'action':10} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9}  (ms added per action)")
    for action, s in summary.items():
        print(f"{action:10} {s['cold']['p50']:>9.0f} {s['cold']['p95']:>9.0f} "
              f"{s['warm']['p50']:>9.0f} {s['warm']['p95']:>9.0f}")
    rejected = [r["case"] for r in rows if r["failure"]]
    if rejected:
        print("reference solutions rejected (should be none): " + ", ".join(rejected))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
