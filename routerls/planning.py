"""Deciding a request without calling anything: the action, its context, the route, and the
tool that serves it when the `tools` tier does. No model call and no litellm happen here."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from routerls import actions as actions_mod
from routerls import context as context_mod
from routerls.actions import Action
from routerls.backends import tools as tools_mod
from routerls.config import Config, ToolEntry
from routerls.context import Context
from routerls.request import EngineError, RunRequest, checked_request
from routerls.router import PriceOf, RouteDecision, RouteError, Spend, parse_tags, route


@attrs.frozen
class Plan:
    action: Action
    context: Context
    decision: RouteDecision
    instruction: str | None  # without routing tags
    tool: ToolEntry | None = None  # when the `tools` tier serves


def find_action(config: Config, name: str) -> Action:
    found = actions_mod.find((*actions_mod.all_actions(config), *actions_mod.INTERNAL), name)
    if found is None:
        names = ", ".join(a.name for a in actions_mod.all_actions(config))
        raise EngineError(f"unknown action {name!r}; available: {names}")
    return found


def plan(config: Config, req: RunRequest, *, spend: Callable[[], Spend], learned: Callable[[], object],
         price_of: PriceOf | None = None, tool_ok: bool = False,
         tool_failure: str | None = None) -> Plan:
    """Decide the request on the spend and learned estimates of now. A fix-type tool (one that
    must be asked whether it can fix the diagnostics) is only chosen with `tool_ok`."""
    req = checked_request(req)
    action = find_action(config, req.action)
    ctx = context_mod.gather(req.text, req.range, path=req.path, language_id=req.language_id,
                             diagnostics=req.diagnostics, encoding=req.encoding)
    _, instruction = parse_tags(req.instruction)
    classified = None
    if instruction and config.route.classifier != "none":
        from routerls import classifier  # only here: never on the codeAction path

        classified = classifier.route_hint(config, instruction)
    pick = tools_mod.pick(config, action.name, req.language_id)
    usable = pick.entry is not None and tool_failure is None and (pick.entry.fixable is None or tool_ok)
    try:
        decision = route(config, action.task, text=action.name, tokens=ctx.tokens,
                         tier=req.tier, instruction=req.instruction, spend=spend(),
                         price_of=price_of, tool=pick.entry.name if usable else None,
                         tool_note=tool_failure or pick.note, classified=classified,
                         learned=learned())
    except RouteError as exc:
        raise EngineError(str(exc)) from None
    decision = keep_local(config, req, decision, action.task, ctx.tokens, spend, price_of)
    return Plan(action, ctx, decision, instruction,
                pick.entry if decision.tier == tools_mod.TIER else None)


def keep_local(config: Config, req: RunRequest, decision: RouteDecision, task: str, tokens: int,
               spend: Callable[[], Spend], price_of: PriceOf | None) -> RouteDecision:
    """A file matching `local_only` goes to the local tier (or a tool), pinned: no fallback
    to a remote tier, whatever the task, rules, tags or budget say."""
    from routerls import redact

    glob = redact.local_only_match(req.path, config.local_only, req.workspace_root)
    if glob is None or decision.tier in (tools_mod.TIER, "local"):
        return attrs.evolve(decision, pinned=True) if glob and decision.tier == "local" else decision
    if "local" not in config.tiers:
        raise EngineError(f"{req.path} matches local_only {glob!r}: only the local tier may see "
                          "it, and no `local` tier is configured")
    local_decision = route(config, task, text=req.action, tokens=tokens, tier="local",
                           spend=spend(), price_of=price_of)
    return attrs.evolve(local_decision, reason=f"the file matches local_only {glob!r}, so local "
                        f"only (not {decision.tier})", rule="local_only", pinned=True)
