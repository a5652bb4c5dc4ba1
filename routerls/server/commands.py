"""executeCommand handlers and the `routerls/spend` request: `routerls.run` (and its
`reapply`), `routerls.setStrategy`, `routerls.report`, `routerls.dashboard`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from lsprotocol import types as T

from routerls import actions as actions_mod
from routerls.config import STRATEGIES
from routerls.server import deliver
from routerls.server.run import run
from routerls.server.session import RouterServer
from routerls.server.status import report_markdown, spend_payload


async def run_command(ls: RouterServer, *arguments: Any) -> dict[str, Any]:
    """`routerls.run {action, uri, range, version, tier?, instruction?, reapply?}`."""
    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    msg_id = ls.protocol.msg_id
    if args.get("reapply"):
        return await reapply(ls, str(args["reapply"]))
    return (await run(ls, args, apply=True, msg_id=msg_id)).to_json()


async def reapply(ls: RouterServer, request_id: str) -> dict[str, Any]:
    """Apply a kept result (one the editor's document had moved away from) if it still fits."""
    kept = ls.kept.get(request_id)
    if kept is None:
        return {"state": "error", "message": f"no kept result {request_id!r} (kept: {', '.join(ls.kept) or 'none'})"}
    state, message = await deliver.apply(ls, kept)
    ls.status(state, kept.result.plan.action, tier=kept.result.tier,
              model=kept.result.model.name if kept.result.model else None, reason=kept.result.reason,
              input_tokens=kept.result.input_tokens, output_tokens=kept.result.output_tokens,
              cost_usd=0.0, saved_usd=0.0, message=message)
    return {"requestId": request_id, "state": state, "applied": state == "done",
            **({"message": message} if message else {})}


def set_strategy(ls: RouterServer, *arguments: Any) -> dict[str, Any]:
    args = arguments[0] if arguments else {}
    strategy = args.get("strategy") if isinstance(args, Mapping) else args
    if strategy not in STRATEGIES:
        message = f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}"
        ls.notify_user(T.MessageType.Error, f"routerls: {message}")
        return {"ok": False, "message": message}
    ok = ls.reload({**ls.overrides, "strategy": strategy})
    if ok:
        ls.note(f"routerls: strategy is now {strategy}")
    return {"ok": ok, "strategy": ls.config.strategy}


async def _summary(ls: RouterServer, by: str = "day", since: Any = None):
    """The report layer's reading of the ledger, off the event loop (a large ledger takes a
    few hundred ms); None without a ledger."""
    from datetime import date

    from routerls import spend_report

    if ls.ledger is None:
        return None
    day = date.fromisoformat(since) if isinstance(since, str) and since else None
    return await asyncio.to_thread(spend_report.summarize, ls.ledger, by=by if by in ("day", "week") else "day",
                                   since=day, config=ls.config, session=ls.session_id)


async def report(ls: RouterServer, *arguments: Any) -> str:
    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    by = args.get("by", "model")
    ls.refresh_spend()
    summary = await _summary(ls, by)
    markdown = report_markdown(summary.rows(by) if summary is not None else [], ls.spend, by)
    if summary is not None:
        from routerls.learning import kept_markdown

        kept = kept_markdown(summary.kept)
        markdown += f"\n{kept}" if kept else ""
    action = actions_mod.Action("report", "Spend report", "report", "", "markdown", "")
    await deliver.show_markdown(ls, action, os.urandom(6).hex(), markdown)
    return markdown


async def dashboard(ls: RouterServer, *arguments: Any) -> str:
    """The spend dashboard as one HTML page (`{by: day|week, since?: YYYY-MM-DD}`): the VS Code
    webview shows it, Neovim and Emacs write it to a file for the browser."""
    from routerls.dashboard import render_html, render_message

    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    try:
        summary = await _summary(ls, str(args.get("by") or "day"), args.get("since"))
    except ValueError as exc:
        return render_message(f"routerls: {exc}")
    if summary is None:
        return render_message("routerls: spend is not recorded (the ledger could not be opened)")
    return render_html(summary)


def spend(ls: RouterServer, params: Any = None) -> dict[str, Any]:
    ls.refresh_spend()
    b = ls.config.budgets
    return spend_payload(ls.spend, b.daily_usd, b.monthly_usd)
