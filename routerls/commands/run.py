"""`routerls run` and `routerls route`: an action on a file, or the tier and model it would use.

`run --write` records what became of the edit (kept, or re-run) for route.learn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import json
import logging
import sys
from pathlib import Path

from routerls.commands.request import build_request
from routerls.commands.workspace import UsageError, load, open_ledger
from routerls.money import money

log = logging.getLogger(__name__)  # a line on stderr when a model starts answering (cli shows INFO)


def cmd_route(args, console) -> int:
    from routerls.engine import Engine
    from routerls.request import EngineError

    config, workspace = load(args)
    from routerls.backends.litellm import price_per_mtok

    engine = Engine(config, open_ledger(config.ledger.store_prompts))
    try:
        req = build_request(args, workspace, config)
        plan = engine.plan(req, price_of=price_per_mtok, tool_ok=asyncio.run(engine.check_tool(req)))
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    d = plan.decision
    runs_on = None
    if d.tool is None:  # what will answer on this machine: keys present, a template for base models
        from routerls.backends.availability import likely

        found = likely(config, d.tier, plan.action.name)
        if found is not None and (found[0], found[1]) != (d.tier, d.models[0]):
            runs_on = found
    if args.json:
        print(json.dumps({"action": plan.action.name, "task": plan.action.task, "tier": d.tier,
                          "models": [m.model for m in d.models], "tool": d.tool, "reason": d.reason, "rule": d.rule,
                          "pinned": d.pinned, "blocked": d.blocked, "tokens": plan.context.tokens,
                          "runs_on": {"tier": runs_on[0], "model": runs_on[1].model} if runs_on else None}))
        return 0
    console.print(f"[bold]{plan.action.name}[/] → [bold cyan]{d.tier}[/] · "
                  f"{d.tool or ', '.join(m.model for m in d.models)}")
    console.print(f"  why: {d.reason}" + (f"  [dim]({d.rule})[/]" if d.rule else ""))
    console.print(f"  context: ~{plan.context.tokens} tokens")
    if runs_on is not None:
        console.print(f"  on this machine: [bold cyan]{runs_on[0]}[/] · {runs_on[1].model} "
                      "(the models before it have no API key here, or no template for this action)")
    if d.blocked:
        console.print("  [red]blocked by budget: no model would be called[/]")
    return 0


def _warm_litellm() -> None:
    """Import litellm on a thread, while the local runtime starts and the model loads: a run
    needs it for the call and the prices, and importing it takes seconds."""
    import threading

    from routerls.backends import litellm as gateway

    threading.Thread(target=gateway.warm, name="warm-litellm").start()


def _first_token_notes():
    """An `on_progress` for `Engine.run` that says once per model when its answer starts."""
    seen: set[str] = set()

    def on_progress(model: str, tokens: int) -> None:
        if model not in seen:
            seen.add(model)
            log.info("%s is answering", model)

    return on_progress


def cmd_run(args, console) -> int:
    from routerls.edits import apply_edits
    from routerls.engine import Engine
    from routerls.request import EngineError

    config, workspace = load(args)
    engine = Engine(config, open_ledger(config.ledger.store_prompts))
    req = build_request(args, workspace, config)
    _warm_litellm()
    target = _target(req)
    if args.write:  # the same action on the same lines again: the last run was not enough
        _mark_rerun(engine, config, workspace, args.action, target)
    try:
        result = asyncio.run(engine.run(req, on_progress=_first_token_notes()))
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    d = result.plan.decision
    if args.write:
        _record_outcomes(engine, workspace, result, target)
    if result.outcome != "ok":
        console.print(f"[red]{result.outcome}[/]: {result.message}")
        return 1
    edit = result.edit
    if edit.markdown is not None:
        from rich.markdown import Markdown

        console.print(Markdown(edit.markdown))
    if edit.edits:
        new_text = apply_edits(req.text, edit.edits, req.encoding)
        if args.write:
            Path(req.path).write_text(new_text, encoding="utf-8", newline="")
            console.print(f"wrote {req.path}")
        else:
            print_diff(console, req.text, new_text, req.path)
    elif edit.markdown is None and edit.create is None:
        console.print("no change")
    if edit.create is not None:
        if args.write:
            from routerls.files import FileRefused, write_new

            try:  # the path printed is the one written: symlinks resolved, inside the workspace
                target = write_new(edit.create.path, edit.create.text, workspace)
            except FileRefused as exc:
                console.print(f"error: {exc}", highlight=False, markup=False)
                return 1
            console.print(f"created {target}")
        else:
            print_diff(console, "", edit.create.text, edit.create.path)
    console.print(
        f"[bold cyan]{result.tier}[/] · {result.model.name} · {result.reason} · "
        f"{result.input_tokens}→{result.output_tokens} tokens · {money(result.cost_usd)} · "
        f"saved {money(result.saved_usd)}"
        + ("" if result.tier == d.tier else f" [yellow](planned {d.tier})[/]"),
        highlight=False,
    )
    return 0


def _target(req) -> str:
    """The file and lines of a CLI run, as the outcomes table keeps them (a hash, not the path)."""
    import hashlib

    digest = hashlib.sha256(req.path.encode()).hexdigest()[:16]
    return f"{digest}:{req.range.start.line}-{req.range.end.line}"


def _mark_rerun(engine, config, workspace: Path, action: str, target: str) -> None:
    from routerls.learning import workspace_key

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=config.route.learn_window_s)
    try:
        engine.ledger.mark_rerun(workspace_key(workspace), engine.action(action).name, target, since)
    except Exception as exc:  # noqa: BLE001 - the run matters more than its statistics
        print(f"routerls: outcome not recorded: {exc}", file=sys.stderr)


def _record_outcomes(engine, workspace: Path, result, target: str) -> None:
    """`--write` keeps the edit (until a re-run says otherwise); rejected answers count against
    their tier."""
    from routerls.learning import workspace_key

    key, action, task = workspace_key(workspace), result.plan.action.name, result.plan.action.task
    found = [(a.tier, "rejected") for a in result.attempts if a.outcome == "bad_output"]
    if result.outcome == "ok" and result.edit is not None and result.edit.edits and result.tier:
        found.append((result.tier, "kept"))
    try:
        for tier, outcome in found:
            engine.ledger.record_outcome(result.request_id, key, action, task, tier, outcome, target)
    except Exception as exc:  # noqa: BLE001
        print(f"routerls: outcome not recorded: {exc}", file=sys.stderr)


def print_diff(console, old: str, new: str, path: str) -> None:
    from rich.syntax import Syntax

    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{path}", f"b/{path}"))
    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
