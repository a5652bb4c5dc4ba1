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
    async def run(self, req: RunRequest, on_progress: Progress | None = None) -> RunResult:
        from routerls import gateway

        plan = self.plan(req, price_of=gateway.price_per_mtok)
        request_id = uuid.uuid4().hex
        if plan.decision.blocked:
            return RunResult(request_id, plan, "blocked", message=plan.decision.reason)

        remaining = chain(self.config, plan.decision)
        attempts: list = []
        rows: list = []
        started = time.perf_counter()
        reason_extra: list[str] = []
        try:
            while remaining:
                tier, entry = remaining[0]
                ctx = context_mod.trim(plan.context, max(gateway.context_window(entry) - OUTPUT_RESERVE_TOKENS, 512))
                messages = actions_mod.messages(plan.action, context_mod.render(ctx), plan.instruction)
                progress = (lambda n, _e=entry: on_progress(_e.name, n)) if on_progress else None
                try:
                    completion = await gateway.complete(
                        messages, remaining, self.config.gateway, on_token=progress)
                except gateway.GatewayError as exc:
                    attempts.extend(exc.attempts)
                    return self._finish(request_id, plan, "error", attempts, started,
                                        message=f"every model failed: {exc}")
                attempts.extend(completion.attempts)
                used = next(i for i, (t, e) in enumerate(remaining)
                            if t == completion.tier and e == completion.entry)
                try:
                    edit = edits_mod.build_result(
                        plan.action.result, req.text, req.range, completion.text, path=req.path,
                        language_id=req.language_id, encoding=req.encoding,
                        workspace_root=req.workspace_root)
                except edits_mod.EditError as exc:
                    attempts[-1] = attrs.evolve(attempts[-1], outcome="bad_output", error=str(exc))
                    reason_extra.append(f"{completion.entry.name}'s answer was rejected ({exc})")
                    remaining = remaining[used + 1:]
                    if not remaining:
                        return self._finish(request_id, plan, "error", attempts, started,
                                            message="; ".join(reason_extra) + "; no model left to try")
                    continue
                return self._finish(request_id, plan, "ok", attempts, started, edit=edit,
                                    completion=completion, extra=reason_extra)
            return self._finish(request_id, plan, "error", attempts, started, message="no model to try")
        except asyncio.CancelledError:
            self._record(request_id, plan, attempts + [_cancelled_attempt(remaining)], started)
            raise
        finally:
            del rows

    def _finish(self, request_id: str, plan: Plan, outcome: str, attempts: Sequence, started: float,
                *, edit=None, completion=None, message: str | None = None,
                extra: Sequence[str] = ()) -> RunResult:
        from routerls import gateway

        self._record(request_id, plan, attempts, started, final_outcome=None)
        cost = sum(a.cost_usd for a in attempts)
        latency = (time.perf_counter() - started) * 1000
        if completion is None:
            return RunResult(request_id, plan, outcome, message=message, cost_usd=cost,
                             latency_ms=latency, attempts=tuple(attempts))
        counterfactual = gateway.cost_usd(strongest(self.config), completion.input_tokens,
                                          completion.output_tokens)
        reason = plan.decision.reason
        fallbacks = [a for a in attempts[:-1]]
        if fallbacks:
            reason += "; fell back from " + ", ".join(f"{a.model} ({a.outcome})" for a in fallbacks)
        if extra:
            reason += "; " + "; ".join(extra)
        return RunResult(
            request_id, plan, outcome, edit=edit, model=completion.entry, tier=completion.tier,
            input_tokens=sum(a.input_tokens for a in attempts),
            output_tokens=sum(a.output_tokens for a in attempts),
            cost_usd=cost, saved_usd=max(counterfactual - completion.cost_usd, 0.0),
            latency_ms=latency, message=reason, attempts=tuple(attempts))

    def _record(self, request_id: str, plan: Plan, attempts: Sequence, started: float,
                final_outcome: str | None = None) -> None:
        if self.ledger is None or not attempts:
            return
        from routerls import gateway
        from routerls.ledger import LedgerRow

        best = strongest(self.config)
        rows = [
            LedgerRow(
                request_id=request_id, session=self.session, action=plan.action.name,
                task=plan.action.task, tier=a.tier, model=a.model, input_tokens=a.input_tokens,
                output_tokens=a.output_tokens, cost_usd=a.cost_usd,
                counterfactual_usd=gateway.cost_usd(best, a.input_tokens, a.output_tokens),
                latency_ms=a.latency_ms, outcome=a.outcome, error=a.error, fallback_index=i,
            )
            for i, a in enumerate(attempts)
        ]
        self.ledger.record(rows)


def _cancelled_attempt(remaining):
    from routerls.gateway import Attempt

    tier, entry = remaining[0] if remaining else ("", None)
    return Attempt(tier=tier, model=entry.model if entry else "", outcome="cancelled", error=None,
                   latency_ms=0.0)
