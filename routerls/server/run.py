"""The `routerls.run` flow: arguments → a checked request → the engine, with cancellable
progress and status → the result landed in the editor (see deliver.py).

`Engine.run` runs as a task, so `$/cancelRequest` and a cancelled progress bar stop the model
call and leave the document untouched. Hover and `codeAction/resolve` run the same flow with
`apply=False` and read the markdown or the edit from the `RunOutcome`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types as T
from pygls.uris import to_fs_path

from routerls import actions as actions_mod
from routerls.files import FileRefused
from routerls.server import deliver, outcomes_watch
from routerls.server.progress import Progress
from routerls.server.ranges import from_lsp, to_range
from routerls.server.session import Kept, RouterServer, Snapshot
from routerls.server.titles import title_of

log = logging.getLogger("routerls")

CANCELLED = "cancelled: nothing was changed"
RANGE_SHAPE = "routerls.run: `range` must be {start: {line, character}, end: {line, character}} of integers"


@attrs.frozen
class RunOutcome:
    """What one run came to: the `routerls.run` result (`to_json`), and for hover and resolve
    the markdown or the edit itself."""

    state: str  # done | error | cancelled
    message: str | None = None
    request_id: str | None = None  # set once the engine answered; tier, model and cost go with it
    tier: str | None = None
    model: str | None = None
    cost_usd: float = 0.0
    markdown: str | None = None
    edit: T.WorkspaceEdit | None = None  # apply=False: the edit for the client to make
    applied: bool | None = None  # apply=True: whether the editor took the edit

    def to_json(self) -> dict[str, Any]:
        """The command's result object (the edit never goes out here: run_command applies it)."""
        out: dict[str, Any] = {}
        if self.request_id is not None:
            out.update(requestId=self.request_id, tier=self.tier, model=self.model, costUsd=self.cost_usd)
        if self.markdown is not None:
            out["markdown"] = self.markdown
        out["state"] = self.state
        if self.message:
            out["message"] = self.message
        if self.applied is not None:
            out["applied"] = self.applied
        return out


class RunRefused(Exception):
    """The arguments cannot make a request; the message says why, for the user."""


@attrs.define
class Running:
    """A run between its request and its result: what its status and progress say."""

    ls: RouterServer
    action: actions_mod.Action
    tier: str | None
    model: str | None
    progress: Progress

    def stop(self, state: str, message: str, *, reason: str | None = None, bar: str | None = None,
             notice: str | None = None) -> RunOutcome:
        """A run that ended without a result: status, progress end, then the user told."""
        self.ls.status(state, self.action, tier=self.tier, model=self.model, reason=reason or message,
                       message=message)
        self.progress.end(bar or message)
        if notice is not None:
            self.ls.notify_user(T.MessageType.Error, notice)
        return RunOutcome(state, message)


async def run(ls: RouterServer, args: Mapping[str, Any], *, apply: bool, msg_id: Any = None) -> RunOutcome:
    """`routerls.run`'s arguments to an outcome; with `apply` the edit goes to the editor."""
    try:
        action, req, snap = _request(ls, args)
    except RunRefused as exc:
        ls.notify_user(T.MessageType.Error, f"routerls: {exc}")
        return RunOutcome("error", str(exc))
    if apply:
        outcomes_watch.rerun(ls, snap.uri, action.name, req.range)
    running = await _start(ls, action, req.language_id)
    result = await _result(running, req, msg_id)
    if isinstance(result, RunOutcome):
        return result
    return await _finish(running, result, snap, req.range, apply)


def _request(ls: RouterServer, args: Mapping[str, Any]):
    """(action, checked RunRequest, document snapshot), or RunRefused."""
    from routerls.request import EngineError, RunRequest, checked_request

    follow_up = bool(args.get("followUp"))
    name = args.get("action")
    if name is None and follow_up and "uri" in args:  # "more detail": the document's last action
        name = ls.get_engine().last_action(to_fs_path(args["uri"]) or args["uri"])
    action = actions_mod.find(ls.actions, str(name))
    if action is None:
        raise RunRefused(f"unknown action {name!r}; available: {', '.join(a.name for a in ls.actions)}")
    if "uri" not in args or "range" not in args:
        raise RunRefused("routerls.run needs {action, uri, range, version}")
    uri = args["uri"]
    try:
        rng = to_range(args["range"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RunRefused(RANGE_SHAPE) from None
    try:
        snap = ls.snapshot(uri)
    except FileRefused as exc:
        raise RunRefused(str(exc)) from None
    req = RunRequest(action=action.name, path=snap.path, text=snap.text, range=rng,
                     language_id=snap.language_id, diagnostics=_diagnostics_for(ls, uri, rng, args.get("diagnostics")),
                     tier=args.get("tier"), instruction=args.get("instruction"), encoding=ls.encoding,
                     follow_up=follow_up, workspace_root=str(ls.root) if ls.root else None)
    try:  # a range past the end or reversed, as a racing editor may send it
        return action, checked_request(req), snap
    except EngineError as exc:
        raise RunRefused(str(exc)) from None


def _diagnostics_for(ls: RouterServer, uri: str, rng, given: Any):
    """The diagnostics sent with the command, else those the last codeAction saw overlapping."""
    from routerls.context import Diagnostic

    if isinstance(given, list):
        raw = [ls.protocol._converter.structure(d, T.Diagnostic) for d in given]
    else:
        raw = [d for d in ls.diagnostics.get(uri, []) if from_lsp(d.range).overlaps(rng)]
    return tuple(Diagnostic(from_lsp(d.range), d.message, int(d.severity) if d.severity is not None else None,
                            None if d.code is None else str(d.code), d.source) for d in raw)


async def _start(ls: RouterServer, action: actions_mod.Action, language: str) -> Running:
    """The progress bar and the `running` status, naming the tier and model the title named."""
    _, tier, model = title_of(ls, action, language)
    token = f"routerls-{os.urandom(6).hex()}"
    progress = await Progress.begin(ls, token, f"AI: {action.title}", f"{tier or ''} · {model or ''}")
    ls.status("running", action, tier=tier, model=model, reason=f"{action.task} → {tier}")
    return Running(ls, action, tier, model, progress)


async def _result(running: Running, req, msg_id: Any):
    """The engine's RunResult, or the RunOutcome of a run cancelled or failed on the way."""
    from routerls.request import EngineError

    ls, token = running.ls, running.progress.token
    task = asyncio.ensure_future(ls.get_engine().run(req, running.progress.report))
    if msg_id is not None:
        ls.runs[msg_id] = task
    ls.by_token[token] = task
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # we ourselves are being cancelled (shutdown)
        ls.refresh_spend()
        return running.stop("cancelled", CANCELLED, reason="cancelled by the user", bar="cancelled")
    except EngineError as exc:
        return running.stop("error", str(exc), notice=f"routerls: {exc}")
    except Exception as exc:
        log.exception("run of %s failed", running.action.name)
        message = f"{type(exc).__name__}: {exc}"
        return running.stop("error", message, notice=f"routerls: {running.action.name} failed: {message}")
    finally:
        ls.runs.pop(msg_id, None)
        ls.by_token.pop(token, None)


async def _finish(running: Running, result, snap: Snapshot, rng, apply: bool) -> RunOutcome:
    """Spend and outcomes recorded, then the result delivered (or its failure told)."""
    ls, action = running.ls, running.action
    ls.refresh_spend()
    if apply:
        outcomes_watch.rejected(ls, snap.uri, result)
    engine = ls.get_engine()
    if engine.ledger_warning:  # the run went on; the user should know spend was not counted
        ls.notify_user(T.MessageType.Warning, f"routerls: {engine.ledger_warning}")
        engine.ledger_warning = None
    fields: dict[str, Any] = {
        "tier": result.tier or result.plan.decision.tier,
        "model": result.model.name if result.model else running.model, "reason": result.reason,
        "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd, "saved_usd": result.saved_usd, "latency_ms": result.latency_ms}
    out = RunOutcome("done", request_id=result.request_id, tier=fields["tier"], model=fields["model"],
                     cost_usd=result.cost_usd)
    if result.outcome != "ok":
        message = result.message or result.outcome
        ls.status("error", action, message=message, **fields)
        running.progress.end(message)
        ls.notify_user(T.MessageType.Warning, f"routerls: {action.name}: {message}")
        return attrs.evolve(out, state="error", message=message)
    running.progress.end(f"{fields['model']} · {result.output_tokens} tokens")
    return await _deliver(ls, action, result, snap, rng, fields, out, apply)


async def _deliver(ls: RouterServer, action: actions_mod.Action, result, snap: Snapshot, rng,
                   fields: dict[str, Any], out: RunOutcome, apply: bool) -> RunOutcome:
    """Markdown shown, the edit returned (`apply=False`) or sent to the editor."""
    edit = result.edit
    if edit.markdown is not None:
        if apply:
            await deliver.show_markdown(ls, action, result.request_id, edit.markdown)
        ls.status("done", action, **fields)
        return attrs.evolve(out, markdown=edit.markdown)
    if not apply:
        ls.status("done", action, **fields)
        return attrs.evolve(out, edit=deliver.build_edit(snap.uri, snap.version, edit.edits, edit.create))
    kept = Kept(snap.uri, snap.text, snap.version, rng, result)
    if snap.was_open and edit.edits and snap.uri not in ls.workspace.text_documents:
        # closed while the model worked: editing a file the user put away would surprise them
        ls.keep(kept)
        message = (f"not applied: {Path(snap.path).name} was closed while the model was "
                   f"working; reopen it and run routerls.run with {{\"reapply\": \"{result.request_id}\"}}")
        ls.status("error", action, message=message, **fields)
        return attrs.evolve(out, state="error", message=message, applied=False)
    state, message = await deliver.apply(ls, kept)
    ls.status(state, action, message=message, **fields)
    return attrs.evolve(out, state=state, message=message, applied=state == "done")
