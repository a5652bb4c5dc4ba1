"""`routerls orchestrate`: a multi-file change planned on the strongest tier, each step run on a cheaper one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from routerls.commands.run import print_diff
from routerls.commands.workspace import load, open_ledger, read_file
from routerls.money import money
from routerls.text import language_of


def cmd_orchestrate(args, console) -> int:
    """Plan a multi-file change on the strongest tier, run each step on a cheaper one."""
    from rich.table import Table

    from routerls.engine import Engine
    from routerls.orchestrate import OrchestrateError, orchestrate
    from routerls.request import EngineError

    paths = [Path(f).resolve() for f in args.files]
    args.file = str(paths[0])
    config, workspace = load(args)
    texts = {str(path): read_file(path, workspace, config) for path in paths}
    engine = Engine(config, open_ledger(config.ledger.store_prompts))
    try:
        done = asyncio.run(orchestrate(engine, args.instruction, texts, planner_tier=args.planner_tier,
                                       workspace_root=str(workspace),
                                       language_of=lambda p: language_of(Path(p))))
    except (OrchestrateError, EngineError) as exc:
        console.print(f"[red]error[/]: {exc}")
        return 1
    plan = done.planner
    table = Table(title=f"plan by {plan.model.name} ({plan.tier}) · {money(plan.cost_usd)}")
    for col in ("#", "step", "where", "tier", "model", "cost", "result"):
        table.add_column(col)
    for i, s in enumerate(done.steps, 1):
        r = s.result
        where = f"{Path(s.step.file).name}:{s.step.first}-{s.step.last}"
        table.add_row(str(i), f"{s.step.action}: {s.step.instruction}", where, (r.tier if r else "") or "",
                      r.model.name if r and r.model else "", money(r.cost_usd if r else 0.0),
                      "[green]ok[/]" if s.error is None else f"[red]{s.error}[/]")
    console.print(table)
    for path, text in done.texts.items():
        before = texts.get(path, "")
        if text == before:
            continue
        if args.write:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
            console.print(f"wrote {path}")
        else:
            print_diff(console, before, text, path)
    failed = sum(1 for s in done.steps if s.error)
    console.print(f"total {money(done.cost_usd)} · {len(done.steps) - failed} of {len(done.steps)} steps done")
    return 0 if not failed else 1
