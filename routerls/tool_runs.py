"""A request served by the `tools` tier: a deterministic program instead of a model, at $0.

The engine asks here whether a fix-type tool can fix the request's diagnostics (before routing),
and runs the tool when routing chose it; a failure is recorded and the models take over.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from routerls.actions import Action
from routerls.backends import tools as tools_mod
from routerls.config import Config, ModelEntry, ToolEntry
from routerls.context import Diagnostic
from routerls.request import RunRequest
from routerls.router import parse_tags


@attrs.frozen
class Served:
    program: str  # the program and its version, as the ledger names it
    edits: Sequence = ()
    latency_ms: float = 0.0
    saved_usd: float = 0.0  # what the models would have cost
    error: str | None = None  # the tool's own message when it failed (the ledger's `error`)
    failure: str | None = None  # why it could not serve, for the reason: the models take over


async def can_fix(config: Config, action: Action, req: RunRequest) -> bool:
    """Can this action's fix-type tool fix every diagnostic in the range? (Runs the tool's
    `fixable` command; False on any failure, so the models serve.)"""
    pick = tools_mod.pick(config, action.name, req.language_id)
    if pick.entry is None or pick.entry.fixable is None or req.tier or parse_tags(req.instruction)[0]:
        return False
    in_range = [d for d in req.diagnostics if d.range.overlaps(req.range)]
    values = {"path": req.path, "language": req.language_id, "codes": ""}
    try:
        return await tools_mod.fixable(pick.entry, req.text, values, in_range)
    except tools_mod.ToolFailure:
        return False


async def serve(tool: ToolEntry, action: str, req: RunRequest, diagnostics: Sequence[Diagnostic],
                usual: ModelEntry) -> Served:
    """Run `tool` on the request; `usual` is the model that would have served it otherwise
    (what the tool saved is priced on it)."""
    from routerls.backends import litellm as gateway

    tokens_in, tokens_out = tools_mod.counterfactual_tokens(req.text, req.range)
    saved = gateway.cost_usd(usual, tokens_in, tokens_out)
    try:
        done = await tools_mod.run(tool, action, req.text, req.range, path=req.path,
                                   language=req.language_id, encoding=req.encoding,
                                   diagnostics=list(diagnostics))
    except tools_mod.ToolFailure as exc:
        program = tools_mod.which(tool.command[0])
        return Served(tools_mod.version(program) if program else tool.name, error=str(exc),
                      failure=f"{tool.name} {action} failed ({exc})")
    return Served(done.program, done.edits, done.latency_ms, saved)


def ledger_row(request_id: str, session: str, action: Action, served: Served):
    """The one ledger row of a tool's run (its error is the tool's own message)."""
    from routerls.ledger import LedgerRow

    return LedgerRow(
        request_id=request_id, session=session, action=action.name, task=action.task,
        tier=tools_mod.TIER, model=served.program, counterfactual_usd=served.saved_usd,
        latency_ms=served.latency_ms, outcome="error" if served.failure else "ok",
        error=served.error, estimated=True)
