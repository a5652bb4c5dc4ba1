"""`routerls serve|connect|run|route|report|learn|doctor|trust|orchestrate|local|eval`: the
command line — the arguments, and which module does each command (`routerls/commands/`).

Errors a user can fix (bad config, unknown action, unreadable file) print one line and exit 2;
a model failure exits 1. No traceback reaches the user for either.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from routerls.commands import doctor, learn, orchestrate, report, run, trust
from routerls.commands.workspace import UsageError, load


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

    config, _ = load(args)
    code, lines = control.command(args.local_command, config)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    return code


def cmd_eval(args, console) -> int:
    from routerls import eval as evaluation

    config, workspace = load(args)
    try:
        return evaluation.command(config, args, console, workspace)
    except evaluation.EvalError as exc:
        raise UsageError(str(exc)) from None


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="routerls", description="AI code actions, routed to the cheapest model that does them well.")
    sub = p.add_subparsers(dest="command", required=True)
    _server_parsers(sub)
    _action_parsers(sub)
    _ledger_parsers(sub)
    _workspace_parsers(sub)
    _eval_parser(sub)
    return p


def _server_parsers(sub) -> None:
    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="(default) talk LSP over stdin/stdout")
    serve.add_argument("--max-message-mb", type=int, metavar="MB",
                       help="refuse LSP messages larger than this (default 64)")
    conn = sub.add_parser("connect", help="bridge stdio to `routerls serve --tcp HOST:PORT`, "
                                          "presenting the token")
    conn.add_argument("address", metavar="HOST:PORT")


def _action_parsers(sub) -> None:
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


def _ledger_parsers(sub) -> None:
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


def _workspace_parsers(sub) -> None:
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


def _eval_parser(sub) -> None:
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


COMMANDS = {"run": run.cmd_run, "route": run.cmd_route, "report": report.cmd_report, "doctor": doctor.cmd_doctor,
            "serve": cmd_serve, "eval": cmd_eval, "local": cmd_local, "trust": trust.cmd_trust,
            "connect": cmd_connect, "orchestrate": orchestrate.cmd_orchestrate, "learn": learn.cmd_learn}


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
