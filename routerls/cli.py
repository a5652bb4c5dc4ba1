"""`routerls serve|run|route|report|doctor`: the engine from a terminal.

Errors a user can fix (bad config, unknown action, unreadable file) print one line and exit 2;
a model failure exits 1. No traceback reaches the user for either.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import json
import os
import re
import sys
from pathlib import Path

from routerls.status import money

LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript",
             ".tsx": "typescriptreact", ".jsx": "javascriptreact", ".go": "go", ".rs": "rust",
             ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java", ".rb": "ruby", ".lua": "lua",
             ".sh": "shellscript", ".md": "markdown", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


class UsageError(Exception):
    """Something the user typed or configured is wrong; exit 2 with this message."""


def language_of(path: Path) -> str:
    return LANGUAGES.get(path.suffix.lower(), path.suffix.lstrip(".") or "plaintext")


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
        return load_config(workspace), workspace
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


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

    from routerls.context import Diagnostic
    from routerls.text import Range
    from routerls.tools import which

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


def build_request(args, workspace: Path):
    from routerls.engine import RunRequest
    from routerls.text import Range, split_lines

    path, first, last = parse_target(args.file)
    try:
        with open(path, encoding="utf-8", newline="") as f:  # Path.read_text has no newline= before 3.13
            text = f.read()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
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
    from routerls.gateway import price_per_mtok

    engine = Engine(config, _ledger(config.ledger.store_prompts))
    try:
        req = build_request(args, workspace)
        plan = engine.plan(req, price_of=price_per_mtok, tool_ok=asyncio.run(engine.check_tool(req)))
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    d = plan.decision
    runs_on = None
    if d.tool is None:  # what will answer on this machine: keys present, a template for base models
        from routerls.local import likely

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


def cmd_run(args, console) -> int:
    from routerls.edits import apply_edits
    from routerls.engine import Engine, EngineError

    config, workspace = _load(args)
    engine = Engine(config, _ledger(config.ledger.store_prompts))
    req = build_request(args, workspace)
    try:
        result = asyncio.run(engine.run(req))
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    d = result.plan.decision
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
            target = Path(edit.create.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit.create.text, encoding="utf-8")
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


def _print_diff(console, old: str, new: str, path: str) -> None:
    from rich.syntax import Syntax

    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{path}", f"b/{path}"))
    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def cmd_report(args, console) -> int:
    from rich.table import Table

    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r}: use YYYY-MM-DD") from None
    ledger = _ledger()
    rows = ledger.report(args.by, since)
    spend = ledger.spend(None)
    if args.json:
        print(json.dumps({"by": args.by, "since": args.since,
                          "rows": [_row_json(r) for r in rows],
                          "today_usd": spend.today_usd, "month_usd": spend.month_usd}))
        return 0
    table = Table(title=f"routerls spend by {args.by}" + (f" since {args.since}" if args.since else ""))
    for col in (args.by, "calls", "tokens in", "tokens out", "cost", "always-frontier", "saved"):
        table.add_column(col, justify="left" if col == args.by else "right")
    for r in rows:
        table.add_row(str(r.key), str(r.calls), str(r.input_tokens), str(r.output_tokens),
                      money(r.cost_usd), money(r.counterfactual_usd), money(r.saved_usd))
    console.print(table)
    total = sum(r.cost_usd for r in rows)
    saved = sum(r.saved_usd for r in rows)
    console.print(f"total {money(total)} · saved {money(saved)} vs always-frontier · "
                  f"today {money(spend.today_usd)} · this month {money(spend.month_usd)}")
    return 0


def _row_json(r) -> dict:
    return {"key": str(r.key), "calls": r.calls, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "cost_usd": r.cost_usd,
            "counterfactual_usd": r.counterfactual_usd, "saved_usd": r.saved_usd}


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
    texts = {}
    for path in paths:
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror}") from None
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

    return serve(tcp=args.tcp)


def cmd_local(args, console) -> int:
    from routerls import local

    config, _ = _load(args)
    code, lines = local.command(args.local_command, config)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    return code


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerls", description="AI code actions, routed to the cheapest model that does them well.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="(default) talk LSP over stdin/stdout")

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
    rep.add_argument("--json", action="store_true")

    sub.add_parser("doctor", help="check config, keys (names only) and backends")

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
COMMANDS["orchestrate"] = cmd_orchestrate


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command != "serve":
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
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
