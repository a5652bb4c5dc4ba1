"""`routerls serve|connect|run|route|report|doctor|trust`: the engine from a terminal.

Errors a user can fix (bad config, unknown action, unreadable file) print one line and exit 2;
a model failure exits 1. No traceback reaches the user for either.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from routerls.money import money
from routerls.text import language_of


class UsageError(Exception):
    """Something the user typed or configured is wrong; exit 2 with this message."""


def parse_target(target: str):
    """`FILE[:L1[-L2]]` (1-based, inclusive) → (path, first line, last line or None)."""
    m = re.fullmatch(r"(.+?)(?::(\d+)(?:-(\d+))?)?", target)
    assert m is not None
    path = Path(m.group(1))
    first = int(m.group(2)) if m.group(2) else None
    last = int(m.group(3)) if m.group(3) else first
    if first is not None and (first < 1 or (last is not None and last < first)):
        raise UsageError(f"{target}: lines are 1-based and L1 ≤ L2")
    return path, first, last


def _workspace_of(path: Path) -> Path:
    for parent in [path.parent, *path.parent.parents]:
        if any((parent / marker).exists() for marker in (".routerls.yaml", ".git", "pyproject.toml")):
            return parent
    return path.parent


def _load(args):
    from routerls.config import ConfigError, load_config

    workspace = _workspace_of(Path(args.file).resolve()) if getattr(args, "file", None) else Path.cwd()
    try:
        config = load_config(workspace)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    _warn_untrusted(config, workspace)
    return config, workspace


def _warn_untrusted(config, workspace: Path) -> None:
    """Once per command, on stderr: what the untrusted workspace config could not set."""
    from routerls import trust

    if config.workspace.ignored:
        print(trust.message(workspace, config.workspace.ignored), file=sys.stderr)


def _ledger(store_prompts: bool = False):
    from routerls.ledger import Ledger, LedgerError, default_path

    try:
        return Ledger(default_path(), store_prompts=store_prompts)
    except LedgerError as exc:
        raise UsageError(str(exc)) from None


def _python_diagnostics(text: str, path: Path):
    """What an editor's Python linters would report: syntax errors, then ruff's findings, so
    `fix` has something to aim at from a terminal (and the tools tier knows what it can fix)."""
    import subprocess

    from routerls.backends.tools import which
    from routerls.context import Diagnostic
    from routerls.text import Range

    try:
        compile(text, "<file>", "exec")
    except SyntaxError as exc:
        line = max((exc.lineno or 1) - 1, 0)
        col = max((exc.offset or 1) - 1, 0)
        return (Diagnostic(Range.of(line, col, line, col + 1), f"SyntaxError: {exc.msg}", 1, "E999", "python"),)
    ruff = which("ruff")
    if ruff is None:
        return ()
    proc = subprocess.run([ruff, "check", "--output-format", "json", "--exit-zero", "--quiet",
                           "--stdin-filename", str(path), "-"], input=text, capture_output=True,
                          text=True, check=False, timeout=20)
    try:
        found = json.loads(proc.stdout or "[]")
    except ValueError:
        return ()
    return tuple(
        Diagnostic(Range.of(f["location"]["row"] - 1, f["location"]["column"] - 1,
                            f["end_location"]["row"] - 1, f["end_location"]["column"] - 1),
                   f["message"], 2, f.get("code"), "ruff")
        for f in found if f.get("location") and f.get("end_location"))


def _read(path: Path, workspace: Path, config) -> str:
    """A file named on the command line: a regular file of the workspace, within the size limit."""
    from routerls.files import FileRefused, read_text

    try:
        return read_text(path, root=workspace, max_bytes=config.limits.max_file_bytes)
    except FileRefused as exc:
        raise UsageError(str(exc)) from None


def build_request(args, workspace: Path, config):
    from routerls.engine import RunRequest
    from routerls.text import Range, split_lines

    path, first, last = parse_target(args.file)
    text = _read(path, workspace, config)
    lines = split_lines(text)
    if first is None:
        rng = Range.of(0, 0, len(lines) - 1, len(lines[-1]))
    else:
        if first > len(lines):
            raise UsageError(f"{path} has {len(lines)} lines; line {first} does not exist")
        last = min(last or first, len(lines))
        rng = Range.of(first - 1, 0, last, 0) if last < len(lines) else Range.of(first - 1, 0, last - 1, len(lines[-1]))
    language = language_of(path)
    diagnostics = _python_diagnostics(text, path.resolve()) if language == "python" else ()
    return RunRequest(action=args.action, path=str(path.resolve()), text=text, range=rng,
                      language_id=language, diagnostics=diagnostics, tier=args.tier,
                      instruction=args.instruction, workspace_root=str(workspace))



# --- commands ------------------------------------------------------------------------------

def cmd_route(args, console) -> int:
    from routerls.engine import Engine, EngineError

    config, workspace = _load(args)
    from routerls.backends.litellm import price_per_mtok

    engine = Engine(config, _ledger(config.ledger.store_prompts))
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
            _progress_log().info("%s is answering", model)

    return on_progress


def cmd_run(args, console) -> int:
    from routerls.edits import apply_edits
    from routerls.engine import Engine, EngineError

    config, workspace = _load(args)
    engine = Engine(config, _ledger(config.ledger.store_prompts))
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
            _print_diff(console, req.text, new_text, req.path)
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
            _print_diff(console, "", edit.create.text, edit.create.path)
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


def _print_diff(console, old: str, new: str, path: str) -> None:
    from rich.syntax import Syntax

    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{path}", f"b/{path}"))
    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def cmd_report(args, console) -> int:
    from rich.table import Table

    from routerls import spend_report

    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r}: use YYYY-MM-DD") from None
    ledger = _ledger()
    summary = spend_report.summarize(ledger, by=args.by if args.by in ("day", "week") else "day",
                                     since=since, config=_report_config())
    if args.html or args.out or args.open:
        return _write_dashboard(summary, args, ledger.path.parent)
    if args.json:
        print(json.dumps(spend_report.report_json(summary, args.by)))
        return 0
    rows = summary.rows(args.by)
    table = Table(title=f"routerls spend by {args.by}" + (f" since {args.since}" if args.since else ""))
    widest = max((len(str(r.key)) for r in rows), default=len(args.by))
    for col in (args.by, "calls", "tokens in", "tokens out", "cost", "always-frontier", "saved"):
        if col == args.by:  # names are read whole; the headers of the figures may wrap
            table.add_column(col, no_wrap=True, min_width=min(widest, 40))
        else:
            table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r.key), str(r.calls), str(r.input_tokens), str(r.output_tokens),
                      money(r.cost_usd), money(r.counterfactual_usd), money(r.saved_usd))
    console.print(table)
    t = summary.totals
    console.print(f"total {money(t.cost_usd)} · saved {money(t.saved_usd)} vs always-frontier · "
                  f"today {money(t.today_usd)} · this month {money(t.month_usd)}")
    if summary.kept:
        console.print(_kept_table(summary.kept))
    return 0


def _report_config():
    """The config for model names and budgets; a report still runs on a broken one (raw ids)."""
    from routerls.config import ConfigError, load_config

    try:
        return load_config(Path.cwd())
    except ConfigError as exc:
        print(f"routerls: model names and budgets not read ({exc})", file=sys.stderr)
        return None


def _write_dashboard(summary, args, data_dir: Path) -> int:
    """`--html`: the dashboard to `--out` (`-`: standard output; default: beside the ledger)."""
    from routerls.dashboard import render_html

    html = render_html(summary)
    if args.out == "-":
        sys.stdout.write(html)
        return 0
    path = Path(args.out) if args.out else data_dir / "dashboard.html"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the dashboard: {exc.strerror}") from None
    print(f"wrote {path}")
    if args.open:
        import webbrowser  # honours $BROWSER

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"routerls: no browser found; open {path.resolve().as_uri()}", file=sys.stderr)
    return 0


def _kept_rows(ledger, workspace: str | None = None):
    """What users kept of the applied edits, per task class and tier (all workspaces by default)."""
    from routerls.config import DEFAULTS_PATH, load_config
    from routerls.learning import kept_rows

    return kept_rows(ledger.outcome_report(workspace), load_config(files=[DEFAULTS_PATH]).tier_order)


def _kept_table(kept, title: str = "applied edits: what was kept, per task class and tier"):
    from rich.table import Table

    from routerls.learning import OUTCOMES

    table = Table(title=title)
    for col in ("task", "tier", *OUTCOMES, "kept %"):
        table.add_column(col, justify="left" if col in ("task", "tier") else "right")
    for k in kept:
        table.add_row(k.task, k.tier, *(str(k.counts.get(o, 0)) for o in OUTCOMES), f"{k.kept_rate:.0%}")
    return table


def cmd_learn(args, console) -> int:
    """`routerls learn [DIR]`: the workspace's estimates and where they move each task class;
    `--reset` forgets them."""
    from routerls.config import ConfigError, load_config
    from routerls.learning import workspace_key
    from routerls.router import RouteError, route

    workspace = Path(args.dir or ".").resolve()
    key = workspace_key(workspace)
    ledger = _ledger()
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
        console.print(_kept_table(kept, "this workspace's applied edits"))
    return 0


def _with_learning(config):
    """The config with learning on, to show what it would do even while it is off."""
    import attrs

    return attrs.evolve(config, route=attrs.evolve(config.route, learn=True))


def cmd_doctor(args, console) -> int:
    from routerls.config import layer_files
    from routerls.ledger import default_path

    ok = True
    workspace = Path.cwd()
    console.print("[bold]config files[/] (low → high):")
    for f in layer_files(workspace):
        console.print(f"  {f}")
    try:
        config, _ = _load(args)
        console.print("  [green]valid[/]")
    except UsageError as exc:
        console.print(f"  [red]{exc}[/]")
        return 1
    console.print(f"[bold]ledger[/]: {default_path()}")
    _doctor_trust(console, workspace, config)
    console.print(f"[bold]strategy[/]: {config.strategy}   [bold]budgets[/]: daily "
                  f"{config.budgets.daily_usd}, monthly {config.budgets.monthly_usd}, on exceed {config.budgets.on_exceed}")
    for name, tier in config.tiers.items():
        console.print(f"[bold]{name}[/]")
        for entry in tier.models:
            key = entry.api_key_env
            if key:
                state = "[green]key set[/]" if os.environ.get(key) else "[yellow]key missing[/]"
                key_note = f"{key}: {state}"
            else:
                key_note = "no key needed"
            if entry.command is not None:
                key_note, reach = "subscription program", _probe_program(entry.command[0])
            else:
                reach = _probe(entry.api_base) if entry.api_base else ""
            console.print(f"  {entry.model}  {key_note}  {reach}", highlight=False)
    console.print("[bold]tasks[/]: " + ", ".join(f"{t}→{tier}" for t, tier in config.tasks.items()))
    return 0 if ok else 1


def _doctor_trust(console, workspace: Path, config) -> None:
    from routerls import trust

    state = trust.state(workspace)
    colour = {"trusted": "green", "no config file": "dim"}.get(state, "yellow")
    line = f"[bold]workspace trust[/]: {trust.config_file(workspace)}: [{colour}]{state}[/]"
    if config.workspace.ignored:
        line += f" ({len(config.workspace.ignored)} settings ignored; `routerls trust {workspace}`)"
    console.print(line, highlight=False)


def cmd_trust(args, console) -> int:
    """`routerls trust [DIR]`, `--revoke`, `--list`: the workspaces whose config may run programs
    and choose where keys go, each for one exact content of its `.routerls.yaml`."""
    from routerls import trust
    from routerls.config import ConfigError, load_config

    if args.list:
        found = trust.trusted()
        if not found:
            console.print("no trusted workspaces")
        for path, record in sorted(found.items()):
            state = trust.state(Path(path))
            console.print(f"{path}  sha256 {str(record.get('sha256'))[:12]}…  {record.get('trusted_at', '')}  "
                          f"{'' if state == 'trusted' else state}".rstrip(), highlight=False, markup=False)
        return 0
    workspace = Path(args.dir or ".").resolve()
    try:
        if args.revoke:
            done = trust.revoke(workspace)
            console.print(f"revoked trust in {workspace}" if done else f"{workspace} was not trusted",
                          highlight=False, markup=False)
            return 0
        file = trust.config_file(workspace)
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"{file}: {exc.strerror}; nothing to trust") from None
        sha = trust.digest(content)
        # what the trust turns on, from the exact bytes hashed (a bad file is not trusted)
        try:
            before = load_config(workspace, is_trusted=lambda *_: False).workspace.ignored
            load_config(workspace, is_trusted=lambda _ws, d: d == sha)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if trust.digest(file.read_bytes()) != sha:
            raise UsageError(f"{file} changed while it was read; run the command again")
        trust.trust(workspace, sha)
    except trust.TrustError as exc:
        raise UsageError(str(exc)) from None
    console.print(f"trusted {file} (sha256 {sha[:12]}…); any change to it needs a new `routerls trust`",
                  highlight=False, markup=False)
    for i in before:
        console.print(f"  now applies: {i.where}: {i.path}", highlight=False, markup=False)
    return 0


def _probe(api_base: str) -> str:
    """Does the backend answer? One short GET; never sends a key, never shows a URL password."""
    import urllib.error
    import urllib.request

    from routerls.redact import url_without_password

    shown = url_without_password(api_base)
    url = api_base.rstrip("/") + ("/models" if api_base.rstrip("/").endswith("/v1") else "/api/tags")
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return f"[green]answers at {shown}[/] ({resp.status})"
    except urllib.error.HTTPError as exc:
        return f"[yellow]answers at {shown} with HTTP {exc.code}[/]"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"[red]not answering at {shown}[/] ({reason})"


def _probe_program(program: str) -> str:
    """Is a command model's program found, and does it answer `--version`? (No prompt is sent:
    that would spend a call of the user's plan.)"""
    import shutil
    import subprocess

    path = shutil.which(program)
    if path is None:
        return f"[red]{program} not found on PATH[/]"
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"[red]{path} does not answer ({exc})[/]"
    version = (proc.stdout or proc.stderr).strip().splitlines()[:1]
    state = "answers" if proc.returncode == 0 else f"exits {proc.returncode} on --version"
    return f"[green]{path} {state}[/]" + (f" ({version[0][:60]})" if version else "")


def cmd_orchestrate(args, console) -> int:
    """Plan a multi-file change on the strongest tier, run each step on a cheaper one."""
    from rich.table import Table

    from routerls.engine import Engine, EngineError
    from routerls.orchestrate import OrchestrateError, orchestrate

    paths = [Path(f).resolve() for f in args.files]
    args.file = str(paths[0])
    config, workspace = _load(args)
    texts = {str(path): _read(path, workspace, config) for path in paths}
    engine = Engine(config, _ledger(config.ledger.store_prompts))
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
            _print_diff(console, before, text, path)
    failed = sum(1 for s in done.steps if s.error)
    console.print(f"total {money(done.cost_usd)} · {len(done.steps) - failed} of {len(done.steps)} steps done")
    return 0 if not failed else 1


def cmd_serve(args, console) -> int:
    from routerls.server import serve

    if args.max_message_mb is not None and args.max_message_mb <= 0:
        raise UsageError("--max-message-mb must be greater than 0")
    return serve(tcp=args.tcp, max_message_bytes=args.max_message_mb and args.max_message_mb * 1024 * 1024)


def cmd_connect(args, console) -> int:
    """A stdio bridge to `routerls serve --tcp`, sending the token first: for editors that
    start a program rather than open a socket."""
    from routerls import transport
    from routerls.paths import data_dir

    try:
        secret, _ = transport.token(data_dir())
    except OSError as exc:
        raise UsageError(f"cannot read the TCP token in {data_dir()}: {exc.strerror}") from None
    return transport.connect(args.address, secret)


def cmd_local(args, console) -> int:
    from routerls.backends.local import control

    config, _ = _load(args)
    code, lines = control.command(args.local_command, config)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    return code


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerls", description="AI code actions, routed to the cheapest model that does them well.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="(default) talk LSP over stdin/stdout")
    serve.add_argument("--max-message-mb", type=int, metavar="MB",
                       help="refuse LSP messages larger than this (default 64)")
    conn = sub.add_parser("connect", help="bridge stdio to `routerls serve --tcp HOST:PORT`, "
                                          "presenting the token")
    conn.add_argument("address", metavar="HOST:PORT")

    for name, helptext in (("run", "run an action on a file and show (or write) the edit"),
                           ("route", "show which tier and model an action would use, and why")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("action", help="fix, explain, tests, refactor, docstring, format, design, or a user action")
        sp.add_argument("file", metavar="FILE[:L1[-L2]]")
        sp.add_argument("--tier", help="run on this tier and no other")
        sp.add_argument("--instruction", help="extra instruction; may carry @local @cheap @mid @frontier")
        if name == "run":
            group = sp.add_mutually_exclusive_group()
            group.add_argument("--write", action="store_true", help="write the result into the file")
            group.add_argument("--diff", action="store_true", help="print a diff (the default)")
        else:
            sp.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", help="spend per model/day/week/action, and savings vs always-frontier")
    rep.add_argument("--by", choices=("model", "day", "week", "action"), default="model")
    rep.add_argument("--since", metavar="YYYY-MM-DD")
    rep.add_argument("--json", action="store_true", help="the figures at full precision")
    rep.add_argument("--html", action="store_true",
                     help="the dashboard: one self-contained HTML page with charts (--by day|week)")
    rep.add_argument("--out", metavar="FILE", help="where --html writes (default: beside the ledger; -: stdout)")
    rep.add_argument("--open", action="store_true", help="open the dashboard in the default browser")

    lr = sub.add_parser("learn", help="what this workspace's kept, undone and re-run edits teach the "
                        "router (route.learn); --reset forgets it")
    lr.add_argument("dir", nargs="?", metavar="DIR", help="the workspace (default: the current directory)")
    lr.add_argument("--reset", action="store_true", help="forget this workspace's outcomes")
    lr.add_argument("--json", action="store_true")

    sub.add_parser("doctor", help="check config, keys (names only), backends and workspace trust")

    tr = sub.add_parser("trust", help="let a workspace's .routerls.yaml run programs and choose "
                                      "where keys go (this exact content only)")
    tr.add_argument("dir", nargs="?", metavar="DIR", help="the workspace (default: the current directory)")
    group = tr.add_mutually_exclusive_group()
    group.add_argument("--revoke", action="store_true", help="take the trust back")
    group.add_argument("--list", action="store_true", help="list the trusted workspaces")

    orch = sub.add_parser("orchestrate", help="plan a multi-file change on the strongest tier, "
                                              "run each step on a cheaper one")
    orch.add_argument("instruction")
    orch.add_argument("files", nargs="+", metavar="FILE")
    orch.add_argument("--planner-tier", help="the tier that plans (default: the strongest)")
    orch.add_argument("--write", action="store_true", help="write the results (default: show diffs)")

    loc = sub.add_parser("local", help="the embedded local models' runtime: serve, status, stop")
    loc.add_argument("local_command", choices=("serve", "status", "stop"))

    ev = sub.add_parser("eval", help="measure each tier on a task set and build the routing map")
    ev.add_argument("--tiers", metavar="T1,T2", help="the tiers to evaluate (default: every tier)")
    ev.add_argument("--suite", metavar="S1,S2",
                    help="task sets: editor, humaneval (default: both; humaneval when installed)")
    ev.add_argument("--subset", type=int, metavar="N", help="a deterministic sample of N cases")
    ev.add_argument("--target", type=float, default=0.95,
                    help="the success rate a tier must meet (default 0.95)")
    ev.add_argument("--write-config", metavar="FILE",
                    help="merge the cheapest tier per task class into FILE's `tasks:`")
    ev.add_argument("--jobs", type=int, default=4, help="cases run at once per tier (default 4)")
    ev.add_argument("--no-case-files", action="store_true",
                    help="send each case as an unsaved buffer: no project files, so no tests for "
                         "the checks to run (default: each case is a small project with its tests)")
    ev.add_argument("--json", action="store_true")
    return p


def cmd_eval(args, console) -> int:
    from routerls import eval as evaluation

    config, workspace = _load(args)
    try:
        return evaluation.command(config, args, console, workspace)
    except evaluation.EvalError as exc:
        raise UsageError(str(exc)) from None


COMMANDS = {"run": cmd_run, "route": cmd_route, "report": cmd_report, "doctor": cmd_doctor, "serve": cmd_serve,
            "eval": cmd_eval}
COMMANDS["local"] = cmd_local
COMMANDS["trust"] = cmd_trust
COMMANDS["connect"] = cmd_connect
COMMANDS["orchestrate"] = cmd_orchestrate
COMMANDS["learn"] = cmd_learn


class _StderrProgress(logging.Handler):
    """routerls' INFO records (the runtime starting, litellm loading, a model answering) as
    lines on stderr with the seconds since the command started: stdout keeps only the result."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        # sys.stderr looked up each time: tests and callers may swap it
        print(f"[{time.monotonic() - self.started:5.1f}s] {record.getMessage()}", file=sys.stderr,
              flush=True)


def _progress_log() -> logging.Logger:
    return logging.getLogger("routerls.cli")


def _show_progress() -> None:
    root = logging.getLogger("routerls")
    for handler in root.handlers:
        if isinstance(handler, _StderrProgress):  # main() called again in one process (tests)
            handler.started = time.monotonic()
            break
    else:
        root.addHandler(_StderrProgress())
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command not in ("serve", "connect"):
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
        _show_progress()
    else:
        console = None
    try:
        return COMMANDS[args.command](args, console)
    except UsageError as exc:
        print(f"routerls: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
