"""`routerls learn`: what a workspace's kept, undone and re-run edits teach the router."""

from __future__ import annotations

import json
from pathlib import Path

from routerls.commands.report import kept_table
from routerls.commands.workspace import UsageError, open_ledger


def cmd_learn(args, console) -> int:
    """`routerls learn [DIR]`: the workspace's estimates and where they move each task class;
    `--reset` forgets them."""
    from routerls.config import ConfigError
    from routerls.layers import load_config
    from routerls.learning import workspace_key
    from routerls.router import RouteError, route

    workspace = Path(args.dir or ".").resolve()
    key = workspace_key(workspace)
    ledger = open_ledger()
    if args.reset:
        n = ledger.forget_outcomes(key)
        console.print(f"forgot {n} outcome(s) of {key}")
        return 0
    try:
        config = load_config(workspace)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from routerls.engine import Engine

    est = Engine(_with_learning(config), ledger).estimates(key)
    rows = []
    for task in config.tasks:
        try:
            d = route(config, task, learned=est)
        except RouteError:
            continue
        rows.append({"task": task, "tier": d.tier, "reason": d.reason, "learned": d.rule == "route.learn",
                     "estimates": {t: {"mean": round(est.get(task, t).mean, 4), "kept": est.get(task, t).kept,
                                       "seen": est.get(task, t).seen, "evidence": est.get(task, t).evidence}
                                   for t in config.tier_order}})
    if args.json:
        print(json.dumps({"workspace": key, "learn": config.route.learn, "target": est.target,
                          "min_evidence": est.min_evidence, "tasks": rows}))
        return 0
    state = "on" if config.route.learn else "off (below: what it would do if on)"
    console.print(f"{key}: route.learn is {state}; target {est.target:.0%} with "
                  f"{est.min_evidence:g} observations (eval's prior counts)")
    for r in rows:
        console.print(f"  {r['task']}: {r['tier']}" + (f" — {r['reason']}" if r["learned"] else ""))
    kept = _kept_rows(ledger, key)
    if kept:
        console.print(kept_table(kept, "this workspace's applied edits"))
    return 0


def _kept_rows(ledger, workspace: str | None = None):
    """What users kept of the applied edits, per task class and tier (all workspaces by default)."""
    from routerls.layers import DEFAULTS_PATH, load_config
    from routerls.learning import kept_rows

    return kept_rows(ledger.outcome_report(workspace), load_config(files=[DEFAULTS_PATH]).tier_order)


def _with_learning(config):
    """The config with learning on, to show what it would do even while it is off."""
    import attrs

    return attrs.evolve(config, route=attrs.evolve(config.route, learn=True))
