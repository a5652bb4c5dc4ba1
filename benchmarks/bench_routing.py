"""Routing strategies on the editor-task set: cost and success against always-frontier.

    python benchmarks/bench_routing.py [--json]

Every case of `routerls/eval/data/editor.yaml` goes through `Engine.run` (no ledger) once per
strategy, and its result is checked by the same program `routerls eval` uses:

- always-frontier: every request pinned to the frontier tier (the baseline)
- rules only: the default `tasks:` map, the rules and the tools tier (ruff); `escalate.max_steps: 0`
- rules + escalation: the same with the default `escalate.max_steps: 1`: a rejected code result
  (does not parse, changed what it must not, left the problem) is retried one tier up
- embeddings (+ escalation): `route.classifier: embeddings` reads the case's instruction (needs
  `routerls[classifier]`; left out, with the reason, when not installed)

Every request carries the case's instruction, so the strategies differ only in routing.

Models: the scripted model server (tests/support/modelserver.py) on loopback, not real models. Its
deterministic "model quality" script answers with the case's reference solution or gives the
code back unchanged: local gets easy docstring and format cases right, cheap every easy case,
mid also the hard docstring and format cases, frontier everything. Prices are list prices per
million tokens (cheap gpt-4o-mini, mid claude-haiku-4-5, frontier claude-sonnet-4-5); tokens
are the server's counts (prompt words, answer length / 4).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

import attrs
from modelserver import ModelServer, Reply

from routerls import classifier
from routerls import eval as evaluation
from routerls.edits import apply_edits
from routerls.engine import Engine
from routerls.layers import load_config

PRICES = {"local": (0.0, 0.0), "cheap": (0.15, 0.6), "mid": (1.0, 5.0), "frontier": (3.0, 15.0)}
MODELS = {"local": "tiny-local", "cheap": "cheap-model", "mid": "mid-model", "frontier": "big-model"}


def right(tier: str, case: evaluation.Case) -> bool:
    """The quality script: which tier gets which case right."""
    if tier == "frontier":
        return True
    if tier == "mid":
        return not case.hard or case.action in ("docstring", "format")
    if tier == "cheap":
        return not case.hard
    return case.action in ("docstring", "format") and not case.hard


def answerer(cases):
    tier_of = {m: t for t, m in MODELS.items()}

    def answer(request):
        tier = tier_of[request.model]
        case = next(c for c in cases if c.code.strip() in request.last_user)
        text = f"```python\n{case.solution if right(tier, case) else case.code}```"
        return Reply(text, completion_tokens=max(1, len(text) // 4))

    return answer


def config_text(url: str, *, max_steps: int, classifier_on: bool) -> str:
    tiers = "\n".join(
        f"  {t}:\n    models: [{{model: openai/{MODELS[t]}, api_base: \"{url}\", "
        f"price: {{input_per_mtok: {p[0]}, output_per_mtok: {p[1]}}}}}]"
        for t, p in PRICES.items())
    return (f"tiers:\n{tiers}\n"
            f"escalate: {{max_steps: {max_steps}}}\n"
            f"route: {{classifier: {'embeddings' if classifier_on else 'none'}}}\n"
            "gateway: {timeout_s: 10, retries: 0, backoff_s: 0.01}\n"
            "budgets: {daily_usd: 1000.0, monthly_usd: 1000.0}\n")


async def run_strategy(config, cases, pinned: str | None, jobs: int = 4,
                       case_files: bool = True) -> list[evaluation.Outcome]:
    engine = Engine(config, ledger=None, session="bench")
    limit = asyncio.Semaphore(jobs)

    async def one(case):
        async with limit, contextlib.AsyncExitStack() as stack:
            folder = None
            if case_files:  # the case as a small project with its tests, as `routerls eval` does
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="routerls-case-")))
                evaluation.write_case(case, folder)
            req = attrs.evolve(evaluation.request_for(case, pinned, folder), instruction=case.instruction)
            result = await engine.run(req)
            passed, why, applied = False, f"{result.outcome}: {result.message}", False
            if result.outcome == "ok" and result.edit is not None:
                applied = True
                passed, why = await evaluation.check(case, apply_edits(case.code, result.edit.edits))
            return evaluation.Outcome(case.id, case.task, result.tier or "not applied", passed, result.cost_usd,
                                      result.latency_ms, reason=why, applied=applied)

    return list(await asyncio.gather(*(one(c) for c in cases)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-case-files", action="store_true",
                        help="cases as unsaved buffers: no tests beside them for the checks to run")
    args = parser.parse_args(argv)
    cases = evaluation.editor_cases()
    strategies = [("always-frontier", "frontier", 0, False), ("rules only", None, 0, False),
                  ("rules + escalation", None, 1, False)]
    skipped = {}
    if classifier.available():
        strategies += [("embeddings", None, 0, True), ("embeddings + escalation", None, 1, True)]
    else:
        skipped["embeddings"] = "routerls[classifier] is not installed"
    results = {}
    with ModelServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.rule(fn=answerer(cases))
        os.environ["XDG_CONFIG_HOME"] = tmp
        os.environ["ROUTERLS_DATA_DIR"] = tmp
        os.chdir(tmp)
        for name, pinned, steps, classify in strategies:
            path = Path(tmp) / f"{len(results)}.yaml"
            path.write_text(config_text(server.url, max_steps=steps, classifier_on=classify))
            os.environ["ROUTERLS_CONFIG"] = str(path)
            config = load_config(Path(tmp))
            started = time.perf_counter()
            outcomes = asyncio.run(run_strategy(config, cases, pinned, case_files=not args.no_case_files))
            results[name] = (outcomes, time.perf_counter() - started)
    base_cost = sum(o.cost_usd for o in results["always-frontier"][0])
    base_ok = sum(o.passed for o in results["always-frontier"][0])
    rows = []
    for name, (outcomes, seconds) in results.items():
        cost = sum(o.cost_usd for o in outcomes)
        ok = sum(o.passed for o in outcomes)
        tiers = {}
        for o in outcomes:
            tiers[o.tier] = tiers.get(o.tier, 0) + 1
        rows.append({"strategy": name, "cases": len(outcomes), "passed": ok,
                     "wrong_applied": sum(o.wrong for o in outcomes),
                     "success": ok / len(outcomes), "cost_usd": cost,
                     "cost_vs_frontier": cost / base_cost if base_cost else 0.0,
                     "success_vs_frontier_pts": (ok - base_ok) / len(outcomes) * 100,
                     "answered_by": dict(sorted(tiers.items())), "seconds": round(seconds, 1),
                     "failures": sorted(o.case for o in outcomes if not o.passed)})
    source = ("models: the scripted model server on loopback with a deterministic quality script "
              "(not real models; see the module docstring)")
    if args.json:
        print(json.dumps({"source": source, "rows": rows, "skipped": skipped}, indent=1))
        return 0
    print(source)
    print(f"{len(cases)} editor cases; every strategy measured against always-frontier\n")
    print(f"{'strategy':26} {'success':>12} {'wrong applied':>14} {'cost':>10} {'cost vs frontier':>17} "
          f"{'success vs frontier':>20}  answered by")
    for r in rows:
        print(f"{r['strategy']:26} {r['passed']:>3}/{r['cases']} {r['success']:>5.0%} {r['wrong_applied']:>14} "
              f"{'$' + format(r['cost_usd'], '.5f'):>10} {r['cost_vs_frontier']:>16.1%} "
              f"{r['success_vs_frontier_pts']:>+18.1f} pts  "
              + ", ".join(f"{t} {n}" for t, n in r["answered_by"].items()))
    for name, why in skipped.items():
        print(f"{name}: not measured ({why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
