"""`routerls report`: spend from the ledger as a table, JSON or the HTML dashboard."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from routerls.commands.workspace import UsageError, open_ledger
from routerls.money import money


def cmd_report(args, console) -> int:
    from rich.table import Table

    from routerls import spend_report

    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since {args.since!r}: use YYYY-MM-DD") from None
    ledger = open_ledger()
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
        console.print(kept_table(summary.kept))
    return 0


def _report_config():
    """The config for model names and budgets; a report still runs on a broken one (raw ids)."""
    from routerls.config import ConfigError
    from routerls.layers import load_config

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


def kept_table(kept, title: str = "applied edits: what was kept, per task class and tier"):
    from rich.table import Table

    from routerls.learning import OUTCOMES

    table = Table(title=title)
    for col in ("task", "tier", *OUTCOMES, "kept %"):
        table.add_column(col, justify="left" if col in ("task", "tier") else "right")
    for k in kept:
        table.add_row(k.task, k.tier, *(str(k.counts.get(o, 0)) for o in OUTCOMES), f"{k.kept_rate:.0%}")
    return table
