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
from routerls.actions import Action
from routerls.config import Config, ModelEntry
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

    def plan(self, req: RunRequest, price_of=None) -> Plan:
        action = self.action(req.action)
        ctx = context_mod.gather(req.text, req.range, path=req.path, language_id=req.language_id,
                                 diagnostics=req.diagnostics, encoding=req.encoding)
        _, instruction = parse_tags(req.instruction)
        try:
            decision = route(self.config, action.task, text=action.name, tokens=ctx.tokens,
                             tier=req.tier, instruction=req.instruction, spend=self.spend(),
                             price_of=price_of)
        except RouteError as exc:
            raise EngineError(str(exc)) from None
        return Plan(action, ctx, decision, instruction)

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

        plan = self.plan(req, price_of=gateway.price_per_mtok)
        request_id = uuid.uuid4().hex
        if plan.decision.blocked:
            return RunResult(request_id, plan, "blocked", message=plan.decision.reason)

        remaining = chain(self.config, plan.decision)
        attempts: list = []
        rejected: list[str] = []
        started = time.perf_counter()
        current = {"entry": remaining[0][1] if remaining else None}

        def progress(tokens: int) -> None:
            if on_progress is not None and current["entry"] is not None:
                on_progress(current["entry"].name, tokens)

        def prompt_for(entry: ModelEntry):
            current["entry"] = entry
            return self.messages_for(plan, entry)

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
