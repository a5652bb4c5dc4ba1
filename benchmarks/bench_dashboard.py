"""The spend dashboard on a large ledger: `routerls report --html` against the text report.

    python benchmarks/bench_dashboard.py [--rows 100000] [--runs 5] [--json]

Builds a ledger of `--rows` calls spread over 90 days (five tiers, eight models under two ids
each, seven tasks, one call in ten failed), then times, in this process and as the median of
`--runs`: the dashboard (read the ledger through `spend_report`, render the HTML), the text
report (the same read, rendered as the rich table `routerls report` prints) and the read alone;
and once each, the commands end to end in a fresh interpreter, start-up included.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from routerls import spend_report
from routerls.dashboard import render_html
from routerls.layers import DEFAULTS_PATH, load_config
from routerls.ledger import Ledger, LedgerRow

TIERS = {"tools": ["ruff 0.9.0", "prettier 3.3"], "local": ["openai/gemma-3-270m"],
         "cheap": ["gemini/gemini-2.0-flash", "openai/gpt-4o-mini"], "mid": ["anthropic/claude-haiku-4-5"],
         "frontier": ["anthropic/claude-sonnet-4-5"]}
TASKS = ["fix", "explain", "tests", "refactor", "docstring", "format", "design"]
OUTCOMES = ["ok"] * 9 + ["timeout", "rate_limited", "bad_output"]


def build(path: Path, n: int) -> None:
    rnd = random.Random(16)
    start = datetime.now().astimezone() - timedelta(days=90)
    rows = []
    for i in range(n):
        tier = rnd.choice(list(TIERS))
        model = rnd.choice(TIERS[tier])
        if rnd.random() < 0.5:
            model = model.rsplit("/", 1)[-1]  # the same model under its short id
        cost = 0.0 if tier in ("tools", "local") else rnd.randint(1, 400) / 10_000
        rows.append(LedgerRow(request_id=f"r{i // 2}", session=f"s{i // 500}", action=rnd.choice(TASKS),
                              task=rnd.choice(TASKS), tier=tier, model=model, input_tokens=rnd.randint(100, 4000),
                              output_tokens=rnd.randint(10, 800), cost_usd=cost, counterfactual_usd=cost * 4 + 0.001,
                              outcome=rnd.choice(OUTCOMES), ts=start + timedelta(seconds=i * 90 * 86400 / n)))
    with Ledger(path) as ledger:
        for k in range(0, n, 10_000):
            ledger.record(rows[k:k + 10_000])


def text_report(summary) -> str:
    from rich.console import Console
    from rich.table import Table

    from routerls.money import money

    table = Table(title="routerls spend by model")
    for col in ("model", "calls", "tokens in", "tokens out", "cost", "always-frontier", "saved"):
        table.add_column(col)
    for r in summary.rows("model"):
        table.add_row(r.key, str(r.calls), str(r.input_tokens), str(r.output_tokens), money(r.cost_usd),
                      money(r.counterfactual_usd), money(r.saved_usd))
    console = Console(file=io.StringIO(), width=100)
    console.print(table)
    return console.file.getvalue()


def timed(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds: on a shared machine the CPU time is the steadier figure."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    config = load_config(files=[DEFAULTS_PATH])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        t0 = time.perf_counter()
        build(path, args.rows)
        built = time.perf_counter() - t0
        with Ledger(path) as ledger:
            def read():
                return spend_report.summarize(ledger, config=config)

            summary = read()
            html = render_html(summary)
            figures: dict = {"rows": args.rows, "build_s": round(built, 2),
                             "html_kb": round(len(html.encode()) / 1024, 1), "load": os.getloadavg()[0]}
            for name, fn in (("dashboard", lambda: render_html(read())),
                             ("text_report", lambda: text_report(read())), ("read", read),
                             ("html_only", lambda: render_html(summary))):
                figures[f"{name}_s"], figures[f"{name}_cpu_s"] = timed(fn, args.runs)
        env = {**os.environ, "ROUTERLS_DATA_DIR": tmp}
        for name, extra in (("cli_html_s", ["--html", "--out", str(Path(tmp) / "d.html")]), ("cli_text_s", [])):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "routerls", "report", *extra], env=env, cwd=tmp, check=True,
                           capture_output=True)
            figures[name] = time.perf_counter() - t0
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.rows} rows (built in {figures['build_s']} s), median of {args.runs}, "
          f"load average {figures['load']:.1f}; wall / CPU:")
    for name, what in (("dashboard", "dashboard (read + HTML)"), ("text_report", "text report (read + table)"),
                       ("read", "the read alone"), ("html_only", "the HTML alone")):
        print(f"  {what:28s} {figures[name + '_s'] * 1000:6.0f} ms / {figures[name + '_cpu_s'] * 1000:4.0f} ms")
    print(f"  (the page: {figures['html_kb']} KiB)")
    print(f"  routerls report --html      {figures['cli_html_s'] * 1000:7.0f} ms  (fresh interpreter)")
    print(f"  routerls report             {figures['cli_text_s'] * 1000:7.0f} ms  (fresh interpreter)")


if __name__ == "__main__":
    main()
