"""Soak: a long editing session against one server; prints a table, then the numbers as JSON.

    python benchmarks/bench_soak.py [--code-actions 5000] [--runs 500] [--documents 10]

10 open documents; 5 000 codeAction requests spread over them, and after every tenth a
`routerls.run` (500 model calls through the loopback scripted server, applyEdit answered).
Reported: errors (runs not `done`, failed requests), RSS after warm-up and at the end, and the
codeAction p99 of the first and the last 1 000 requests. Goals: no error, RSS growth ≤ 10 MB,
last p99 ≤ 1.5 × first p99.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

from bench_lsp import CONFIG, RawClient, make_document, open_document, percentile

WINDOW = 1000  # codeActions in the first and last window compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code-actions", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=300, help="codeActions (and a tenth as many runs) first")
    args = parser.parse_args(argv)

    from modelserver import ModelServerProcess

    tmp = Path(tempfile.mkdtemp(prefix="routerls-soak-"))
    workspace = tmp / "ws"
    workspace.mkdir()
    models = ModelServerProcess()
    config = tmp / "config.yaml"
    config.write_text(CONFIG.format(url=models.url), encoding="utf-8")
    env = {**os.environ, "ROUTERLS_DATA_DIR": str(tmp / "data"), "ROUTERLS_CONFIG": str(config),
           "XDG_CONFIG_HOME": str(tmp / "xdg")}
    answer = "```python\ndef function_50(a, b):\n    return a * 50 + b + 1\n```"
    models.default({"text": answer, "chunks": 8, "prompt_tokens": 300, "completion_tokens": 30})

    client = RawClient([sys.executable, "-m", "routerls", "serve"], env)
    errors: list[str] = []
    samples: list[tuple[int, float]] = []
    try:
        client.initialize(workspace)
        client.notify("initialized", {})
        client.wait_log("model gateway ready")
        rss_start = client.rss_mb()
        uris = []
        for i in range(args.documents):
            path = workspace / f"doc_{i}.py"
            text = make_document(300)
            path.write_text(text, encoding="utf-8")
            uris.append(path.as_uri())
            open_document(client, path.as_uri(), text)

        def code_action(i: int) -> float:
            line = (i * 7) % 290
            params = {"textDocument": {"uri": uris[i % len(uris)]},
                      "range": {"start": {"line": line, "character": 0}, "end": {"line": line + 3, "character": 0}},
                      "context": {"diagnostics": [], "triggerKind": 1}}
            started = time.perf_counter()
            try:
                got = client.request("textDocument/codeAction", params)
                if not got:
                    errors.append(f"codeAction {i}: no actions")
            except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
                errors.append(f"codeAction {i}: {exc}")
            return (time.perf_counter() - started) * 1000

        def run(i: int) -> None:
            run_args = {"action": "refactor", "uri": uris[i % len(uris)], "version": 1,
                        "range": {"start": {"line": 150, "character": 0}, "end": {"line": 152, "character": 0}}}
            try:
                result = client.request("workspace/executeCommand",
                                        {"command": "routerls.run", "arguments": [run_args]})
                if result.get("state") != "done":
                    errors.append(f"run {i}: {result}")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"run {i}: {exc}")

        every = max(args.code_actions // max(args.runs, 1), 1)
        for i in range(args.warmup):  # connection pools, caches, lazy imports: steady state first
            code_action(i)
            if i % every == 0:
                run(i)
        warm_errors = len(errors)
        rss_warm = client.rss_mb()
        calls_before = len(models.requests)
        started = time.perf_counter()
        timings, runs = [], 0
        for i in range(args.code_actions):
            timings.append(code_action(i))
            if i % every == every - 1 and runs < args.runs:
                run(i)
                runs += 1
            if i % 500 == 499:
                samples.append((i + 1, client.rss_mb()))
        elapsed = time.perf_counter() - started
        rss_end = client.rss_mb()
        model_calls = len(models.requests) - calls_before
    finally:
        client.close()
        models.stop()

    first, last = timings[:WINDOW], timings[-WINDOW:]
    results = {
        "code_actions": len(timings), "runs": runs, "model_calls": model_calls, "documents": args.documents,
        "errors": len(errors), "warmup_errors": warm_errors, "error_samples": errors[:5],
        "seconds": elapsed,
        "rss_after_start_mb": rss_start, "rss_after_warmup_mb": rss_warm, "rss_end_mb": rss_end,
        "rss_growth_mb": rss_end - rss_warm, "rss_samples_mb": samples,
        "code_action_ms": {"p50": statistics.median(timings), "p99": percentile(timings, 99)},
        "first_p99_ms": percentile(first, 99), "last_p99_ms": percentile(last, 99),
        "p99_per_window_ms": [round(percentile(timings[i:i + WINDOW], 99), 3)
                              for i in range(0, len(timings) - WINDOW + 1, WINDOW)],
    }
    results["p99_ratio"] = results["last_p99_ms"] / results["first_p99_ms"]
    results["goals_met"] = {"no_errors": not errors, "rss_growth_le_10mb": results["rss_growth_mb"] <= 10,
                            "p99_ratio_le_1.5": results["p99_ratio"] <= 1.5}
    rows = [
        ("codeAction requests / runs / model calls", f"{len(timings)} / {runs} / {model_calls}", ""),
        ("errors", f"{len(errors)}", "0"),
        ("RSS after warm-up → end (MB)", f"{rss_warm:.1f} → {rss_end:.1f}", ""),
        ("RSS growth (MB)", f"{results['rss_growth_mb']:.1f}", "≤ 10"),
        ("codeAction p50 / p99 (ms)", f"{results['code_action_ms']['p50']:.3f} / {results['code_action_ms']['p99']:.3f}", ""),
        (f"codeAction p99 first / last {WINDOW} (ms)", f"{results['first_p99_ms']:.3f} / {results['last_p99_ms']:.3f}", ""),
        ("p99 last / first", f"{results['p99_ratio']:.2f}", "≤ 1.5"),
        ("wall time (s)", f"{elapsed:.1f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>21}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>21}  {goal}")
    print(json.dumps(results, indent=2))
    return 0 if all(results["goals_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
