"""Outcomes of applied edits (outcomes.py, learning.py): each edit the client applied is
watched until it is kept, undone, reworked or run again (`route.learn_window_s`), and the
outcome goes to the ledger, where the router learns which tier serves a task here."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from pygls.uris import to_fs_path

from routerls.server.session import Kept, RouterServer
from routerls.text import Range

log = logging.getLogger("routerls")


def workspace(ls: RouterServer, uri: str) -> str:
    from routerls.learning import workspace_key

    return workspace_key(ls.root if ls.root is not None else Path(to_fs_path(uri) or ".").parent)


def watch(ls: RouterServer, kept: Kept, before: str, edits) -> None:
    """Watch an edit the client applied until its outcome is known (`route.learn_window_s`)."""
    from routerls.edits import apply_edits
    from routerls.outcomes import Applied, Tracker

    result = kept.result
    if ls.ledger is None or result.tier is None:
        return
    if ls.watching is None:
        ls.watching = Tracker()
    window = ls.config.route.learn_window_s
    applied = Applied.of(result.request_id, kept.uri, result.plan.action.name, result.plan.action.task,
                         result.tier, before, apply_edits(before, edits, ls.encoding), time.monotonic() + window)
    record(ls, ls.watching.superseded(kept.uri, applied.first_line, applied.last_line))
    ls.watching.watch(applied)
    try:  # pending until settled: the router's probing counts it at once
        ls.ledger.record_outcome(applied.request_id, workspace(ls, applied.uri), applied.action,
                                 applied.task, applied.tier, "pending")
    except Exception as exc:  # noqa: BLE001 - a lost outcome must not stop the editor
        log.warning("outcome not recorded: %s", exc)
    if ls.engine is not None:
        ls.engine.learned.clear()
    asyncio.get_running_loop().call_later(window + 0.05, expire, ls)


def record(ls: RouterServer, done) -> None:
    for applied, outcome in done:
        try:
            if not ls.ledger.settle_outcome(applied.request_id, applied.tier, outcome):
                ls.ledger.record_outcome(applied.request_id, workspace(ls, applied.uri),
                                         applied.action, applied.task, applied.tier, outcome)
        except Exception as exc:  # noqa: BLE001 - a lost outcome must not stop the editor
            log.warning("outcome not recorded: %s", exc)
            continue
        log.info("%s on %s (%s): %s", applied.action, applied.tier, applied.request_id[:12], outcome)
    if done:
        if ls.engine is not None:
            ls.engine.learned.clear()
        ls.forget_titles()


def expire(ls: RouterServer) -> None:
    if ls.watching is not None:
        record(ls, ls.watching.expire(time.monotonic()))


def rerun(ls: RouterServer, uri: str, action: str, rng: Range) -> None:
    if ls.watching is not None:
        record(ls, ls.watching.rerun(uri, action, rng.start.line, rng.end.line))


def rejected(ls: RouterServer, uri: str, result) -> None:
    """An answer that failed its checks counts against its tier (the request escalated)."""
    if ls.ledger is None:
        return
    for attempt in result.attempts:
        if attempt.outcome == "bad_output":
            try:
                ls.ledger.record_outcome(result.request_id, workspace(ls, uri), result.plan.action.name,
                                         result.plan.action.task, attempt.tier, "rejected")
            except Exception as exc:  # noqa: BLE001
                log.warning("outcome not recorded: %s", exc)
