"""One action from request to edits: context → route → model → edits → ledger.

The command line and the language server both call this; neither knows the steps. A code
result that fails its checks (empty, prose, does not parse) is not applied: the next model in
the chain gets the same request, and both attempts are recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

import attrs

from routerls import actions as actions_mod
from routerls import context as context_mod
from routerls import edits as edits_mod
from routerls import local, prompts
from routerls import tools as tools_mod
from routerls.actions import Action
from routerls.config import Config, ModelEntry, Price, ToolEntry
from routerls.context import Context, Diagnostic
from routerls.router import RouteDecision, RouteError, Spend, chain, parse_tags, route, strongest
from routerls.text import Range

OUTPUT_RESERVE_TOKENS = 1024


class EngineError(Exception):
    """A request that cannot run as asked: unknown action, tier or task. The message is for users."""


@attrs.frozen
class RunRequest:
    action: str
    path: str
    text: str
    range: Range
    language_id: str = "python"
    diagnostics: tuple[Diagnostic, ...] = ()
    tier: str | None = None
    instruction: str | None = None
    encoding: str = "utf-16"
    workspace_root: str | None = None


@attrs.frozen
class Plan:
    action: Action
    context: Context
    decision: RouteDecision
    instruction: str | None  # without routing tags
    tool: ToolEntry | None = None  # when the `tools` tier serves


@attrs.frozen
class RunResult:
    request_id: str
    plan: Plan
    outcome: str  # ok | error | cancelled | blocked
    edit: edits_mod.EditResult | None = None
    model: ModelEntry | None = None
    tier: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    latency_ms: float = 0.0
    message: str | None = None
    attempts: tuple = ()

    @property
    def reason(self) -> str:
        return self.message or self.plan.decision.reason


Progress = Callable[[str, int], None]  # (model name, output tokens so far)


class Engine:
    """Holds the config, the ledger and the session id; runs requests."""

    def __init__(self, config: Config, ledger=None, session: str | None = None):
        self.config = config
        self.ledger = ledger
        self.session = session or uuid.uuid4().hex[:12]

    # --- decide (no model call, no litellm) ------------------------------------------------
    def action(self, name: str) -> Action:
        found = actions_mod.find(actions_mod.all_actions(self.config), name)
        if found is None:
            names = ", ".join(a.name for a in actions_mod.all_actions(self.config))
            raise EngineError(f"unknown action {name!r}; available: {names}")
        return found

    def spend(self) -> Spend:
        if self.ledger is None:
            return Spend()
        s = self.ledger.spend(self.session)
        return Spend(s.today_usd, s.month_usd)

    def plan(self, req: RunRequest, price_of=None, *, tool_ok: bool = False,
             tool_failure: str | None = None) -> Plan:
        """Decide without calling anything. A fix-type tool (one that must be asked whether it
        can fix the diagnostics) is only chosen with `tool_ok`; see `check_tool`."""
        action = self.action(req.action)
        ctx = context_mod.gather(req.text, req.range, path=req.path, language_id=req.language_id,
                                 diagnostics=req.diagnostics, encoding=req.encoding)
        _, instruction = parse_tags(req.instruction)
        pick = tools_mod.pick(self.config, action.name, req.language_id)
        usable = pick.entry is not None and tool_failure is None and (pick.entry.fixable is None or tool_ok)
        try:
            decision = route(self.config, action.task, text=action.name, tokens=ctx.tokens,
                             tier=req.tier, instruction=req.instruction, spend=self.spend(),
                             price_of=price_of, tool=pick.entry.name if usable else None,
                             tool_note=tool_failure or pick.note)
        except RouteError as exc:
            raise EngineError(str(exc)) from None
        return Plan(action, ctx, decision, instruction,
                    pick.entry if decision.tier == tools_mod.TIER else None)

    async def check_tool(self, req: RunRequest) -> bool:
        """Can this action's fix-type tool fix every diagnostic in the range? (Runs the tool's
        `fixable` command; False on any failure, so the models serve.)"""
        action = self.action(req.action)
        pick = tools_mod.pick(self.config, action.name, req.language_id)
        if pick.entry is None or pick.entry.fixable is None or req.tier or parse_tags(req.instruction)[0]:
            return False
        in_range = [d for d in req.diagnostics if d.range.overlaps(req.range)]
        values = {"path": req.path, "language": req.language_id, "codes": ""}
        try:
            return await tools_mod.fixable(pick.entry, req.text, values, in_range)
        except tools_mod.ToolFailure:
            return False

    async def _run_tool(self, req: RunRequest, plan: Plan, request_id: str) -> RunResult | str:
        """Serve from the tools tier; a failure returns its reason and the models take over."""
        from routerls import gateway

        assert plan.tool is not None
        usual = self.plan(req, tool_failure="-").decision
        tokens_in, tokens_out = tools_mod.counterfactual_tokens(req.text, req.range)
        saved = gateway.cost_usd(usual.models[0], tokens_in, tokens_out)
        in_range = [d for d in plan.context.diagnostics]
        try:
            done = await tools_mod.run(plan.tool, plan.action.name, req.text, req.range, path=req.path,
                                       language=req.language_id, encoding=req.encoding,
                                       diagnostics=in_range)
        except tools_mod.ToolFailure as exc:
            program = tools_mod.which(plan.tool.command[0])
            self._record_tool(request_id, plan, tools_mod.version(program) if program else plan.tool.name,
                              "error", str(exc), 0.0, 0.0)
            return f"{plan.tool.name} {plan.action.name} failed ({exc})"
        self._record_tool(request_id, plan, done.program, "ok", None, done.latency_ms, saved)
        return RunResult(request_id, plan, "ok", edit=edits_mod.EditResult(edits=done.edits),
                         model=ModelEntry(model=done.program, price=Price(0.0, 0.0)),
                         tier=tools_mod.TIER, saved_usd=saved, latency_ms=done.latency_ms,
                         message=plan.decision.reason)

    def _record_tool(self, request_id: str, plan: Plan, program: str, outcome: str,
                     error: str | None, latency_ms: float, saved: float) -> None:
        if self.ledger is None:
            return
        from routerls.ledger import LedgerRow

        self.ledger.record([LedgerRow(
            request_id=request_id, session=self.session, action=plan.action.name,
            task=plan.action.task, tier=tools_mod.TIER, model=program, counterfactual_usd=saved,
            latency_ms=latency_ms, outcome=outcome, error=error, estimated=True)])

    # --- run ---------------------------------------------------------------------------------
    def messages_for(self, plan: Plan, entry: ModelEntry) -> list[dict[str, str]]:
        """The prompt for one model: the context trimmed to that model's window."""
        from routerls import gateway

        budget = max(gateway.context_window(entry) - OUTPUT_RESERVE_TOKENS, 512)
        ctx = context_mod.trim(plan.context, budget)
        return actions_mod.messages(plan.action, context_mod.render(ctx), plan.instruction)

    async def run(self, req: RunRequest, on_progress: Progress | None = None) -> RunResult:
        """Route, call, check, and record. A model whose answer fails the checks of
        `edits.build_result` is treated like a failed call: the next model in the chain runs."""
        from routerls import gateway

        tool_ok = await self.check_tool(req)
        plan = self.plan(req, price_of=gateway.price_per_mtok, tool_ok=tool_ok)
        request_id = uuid.uuid4().hex
        if plan.tool is not None:
            served = await self._run_tool(req, plan, request_id)
            if isinstance(served, RunResult):
                return served
            plan = self.plan(req, price_of=gateway.price_per_mtok, tool_failure=served)
        if plan.decision.blocked:
            return RunResult(request_id, plan, "blocked", message=plan.decision.reason)

        attempts: list = []
        started = time.perf_counter()
        # drop what cannot answer on this machine (no key, no Ollama, no local runtime), each
        # with its reason; start the embedded runtime here when the chain needs it
        prepared = await local.prepare(self.config, plan.decision.tier,
                                       chain(self.config, plan.decision), pinned=plan.decision.pinned)
        remaining = list(prepared.chain)
        rejected: list[str] = list(prepared.notes)
        if not remaining:
            return self._finish(request_id, plan, "error", attempts, started, message="; ".join(rejected))
        current = {"entry": remaining[0][1] if remaining else None}

        def progress(tokens: int) -> None:
            if on_progress is not None and current["entry"] is not None:
                on_progress(current["entry"].name, tokens)

        def prompt_for(entry: ModelEntry):
            current["entry"] = entry
            # small local models get a completion template or a worked example (prompts.py)
            return prompts.for_model(plan.action, plan.context.selection, req.language_id,
                                     plan.instruction, entry.style, local.is_embedded(entry),
                                     self.messages_for(plan, entry))

        try:
            while remaining:
                try:
                    completion = await gateway.complete(
                        [], remaining, self.config.gateway, on_token=progress,
                        on_attempt=attempts.append, prompt_for=prompt_for)
                except gateway.GatewayError as exc:
                    return self._finish(request_id, plan, "error", attempts, started,
                                        message="; ".join([*rejected, f"every model failed: {exc}"]))
                used = remaining.index((completion.tier, completion.entry))
                try:
                    edit = edits_mod.build_result(
                        plan.action.result, req.text, req.range, completion.text, path=req.path,
                        language_id=req.language_id, encoding=req.encoding,
                        workspace_root=req.workspace_root)
                    if edit.edits and prompts.format_changed_meaning(
                            plan.action.name, req.language_id, req.text,
                            edits_mod.apply_edits(req.text, edit.edits, req.encoding)):
                        raise edits_mod.EditError("the reformatted code does not mean the same "
                                                  "(its syntax tree changed)")
                except edits_mod.EditError as exc:
                    attempts[-1] = attrs.evolve(attempts[-1], outcome="bad_output", error=str(exc))
                    rejected.append(f"{completion.entry.name}'s answer was rejected ({exc})")
                    remaining = remaining[used + 1:]
                    continue
                return self._finish(request_id, plan, "ok", attempts, started, edit=edit,
                                    completion=completion, notes=rejected)
            return self._finish(request_id, plan, "error", attempts, started,
                                message="; ".join([*rejected, "no model left to try"]))
        except asyncio.CancelledError:
            entry = current["entry"]
            tier = next((t for t, e in remaining if e == entry), plan.decision.tier)
            attempts.append(gateway.Attempt(
                tier=tier, model=entry.model if entry else "", outcome="cancelled",
                error="cancelled by the user", latency_ms=(time.perf_counter() - started) * 1000))
            self._record(request_id, plan, attempts)
            raise

    def _finish(self, request_id: str, plan: Plan, outcome: str, attempts: Sequence, started: float,
                *, edit=None, completion=None, message: str | None = None,
                notes: Sequence[str] = ()) -> RunResult:
        from routerls import gateway

        self._record(request_id, plan, attempts, estimated=bool(completion and completion.estimated))
        cost = sum(a.cost_usd for a in attempts)
        tokens_in = sum(a.input_tokens for a in attempts)
        tokens_out = sum(a.output_tokens for a in attempts)
        latency = (time.perf_counter() - started) * 1000
        if completion is None:
            return RunResult(request_id, plan, outcome, message=message, cost_usd=cost,
                             input_tokens=tokens_in, output_tokens=tokens_out, latency_ms=latency,
                             attempts=tuple(attempts))
        counterfactual = gateway.cost_usd(strongest(self.config), completion.input_tokens,
                                          completion.output_tokens)
        reason = plan.decision.reason
        failed = attempts[:-1]
        if failed:
            reason += "; fell back from " + ", ".join(f"{a.model} ({a.outcome})" for a in failed)
        if notes:
            reason += "; " + "; ".join(notes)
        return RunResult(
            request_id, plan, outcome, edit=edit, model=completion.entry, tier=completion.tier,
            input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost,
            saved_usd=max(counterfactual - cost, 0.0), latency_ms=latency, message=reason,
            attempts=tuple(attempts))

    def _record(self, request_id: str, plan: Plan, attempts: Sequence, estimated: bool = False) -> None:
        if self.ledger is None or not attempts:
            return
        from routerls import gateway
        from routerls.ledger import LedgerRow

        best = strongest(self.config)
        self.ledger.record(LedgerRow.from_attempts(
            attempts, request_id=request_id, session=self.session, action=plan.action.name,
            task=plan.action.task, counterfactual=lambda i, o: gateway.cost_usd(best, i, o),
            estimated=estimated))
