"""One action from request to edits: plan → available → attempt loop → finish.

The command line and the language server both call this; neither knows the steps. A code
result that fails its checks (empty, prose, does not parse) is not applied: the next model in
the chain gets the same request, and both attempts are recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from routerls import answers, planning, prompts, tool_runs
from routerls import debate as debate_mod
from routerls import edits as edits_mod
from routerls.actions import Action
from routerls.backends import availability
from routerls.backends import tools as tools_mod
from routerls.backends.local import models as local_models
from routerls.config import Config, Debate, ModelEntry, Price
from routerls.conversation import Transcripts, Turn, messages_for
from routerls.holds import Holds, within_daily_calls
from routerls.planning import Plan
from routerls.request import RunRequest, checked_request, new_file_allowed
from routerls.router import Spend, chain, parse_tags, strongest


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
# `gateway.complete`'s shape: (messages, chain, settings, *, on_token, on_attempt, prompt_for)
# → gateway.Completion, or gateway.GatewayError when every model failed
Complete = Callable[..., Awaitable[Any]]


@attrs.define
class _Run:
    """One request past planning: what the attempt loop keeps and `_finish` reads."""

    request_id: str
    req: RunRequest
    plan: Plan
    redactor: Any
    started: float = attrs.field(factory=time.perf_counter)
    remaining: list = attrs.Factory(list)  # (tier, model) pairs still to try
    notes: list[str] = attrs.Factory(list)  # models skipped, answers rejected, escalations
    attempts: list = attrs.Factory(list)  # gateway.Attempt, one ledger row each
    checked: dict[int, str] = attrs.Factory(dict)  # attempt index → what its checks said
    entry: ModelEntry | None = None  # the model asked last
    entry_tier: str | None = None  # its tier where the chain does not say it (a debate's steps)
    sent: Any = None  # the prompt as it left for that model
    steps: int = 0  # escalations so far

    def tier_of(self, entry: ModelEntry | None) -> str:
        """The tier `entry` is asked on: its place in the chain, else the plan's tier."""
        return next((t for t, e in self.remaining if e == entry), self.plan.decision.tier)


class Engine:
    """Holds the config, the ledger and the session id; runs requests."""

    def __init__(self, config: Config, ledger=None, session: str | None = None, *,
                 complete: Complete | None = None):
        self.config = config
        self.ledger = ledger
        self.session = session or uuid.uuid4().hex[:12]
        # the model edge: `gateway.complete` (looked up per call, so litellm stays unimported
        # until one) unless a caller gives its own, as the engine's tests do
        self.complete = complete
        self.transcripts = Transcripts()  # each document's conversation, for follow-ups
        # each request's estimated cost, held from routing until the ledger has the real cost,
        # so concurrent requests see each other's spend (see holds.py)
        self.holds = Holds(self.session, self._warn)
        self._prompts: dict[str, str] = {}  # request id → prompt as sent (ledger.store_prompts)
        self.ledger_warning: str | None = None  # the last failed ledger write, for the user
        self.learned: dict = {}  # workspace → learning.Estimates (route.learn); see `estimates`

    @property
    def reserved(self) -> dict[str, float]:
        """Hold id → estimate held in this process only (the ledger could not take it)."""
        return self.holds.reserved

    def _warn(self, message: str) -> None:
        self.ledger_warning = message

    def estimates(self, workspace_root: str | None):
        """The workspace's success estimates when `route.learn` is on, read from the ledger once
        and kept until a new outcome or config drops them (`learned.clear()`)."""
        if not self.config.route.learn or self.ledger is None or not workspace_root:
            return None
        from routerls import learning

        key = learning.workspace_key(workspace_root)
        got = self.learned.get(key)
        if got is None:
            try:
                counts = self.ledger.outcome_counts(key)
            except Exception as exc:  # noqa: BLE001 - an unreadable ledger must not stop the editor
                self.ledger_warning = f"learned estimates not read: {exc}"
                counts = {}
            r = self.config.route
            got = self.learned[key] = learning.estimates(
                counts, learning.load_prior(self.ledger.path.parent), target=r.learn_target,
                min_evidence=r.learn_min_evidence)
        return got

    def forget(self, path: str) -> None:
        """The document was closed: its conversation ends."""
        self.transcripts.forget(path)

    def last_action(self, path: str) -> str | None:
        return self.transcripts.last_action(path)

    # --- decide (no model call, no litellm) ------------------------------------------------
    def action(self, name: str) -> Action:
        return planning.find_action(self.config, name)

    def spend(self) -> Spend:
        """Spend recorded, plus what requests in flight hold (see holds.py)."""
        return self.holds.spend(self.ledger)

    def _reserve(self, request_id: str, plan: Plan) -> Plan:
        """The plan as the budget lets it run now, its estimate held until `_record` settles it
        (`Holds.reserve`: checked on every process's spend; a blocked plan holds nothing).
        Called again for the same request, it replaces the hold."""
        decision = self.holds.reserve(self.ledger, self.config, request_id, plan.decision,
                                      plan.context.tokens)
        return attrs.evolve(plan, decision=decision)

    def plan(self, req: RunRequest, price_of=None, *, tool_ok: bool = False,
             tool_failure: str | None = None) -> Plan:
        """Decide without calling anything (planning.py). A fix-type tool (one that must be
        asked whether it can fix the diagnostics) is only chosen with `tool_ok`; see
        `check_tool`."""
        return planning.plan(self.config, req, spend=self.spend,
                             learned=lambda: self.estimates(req.workspace_root), price_of=price_of,
                             tool_ok=tool_ok, tool_failure=tool_failure)

    async def check_tool(self, req: RunRequest) -> bool:
        """Can this action's fix-type tool fix every diagnostic in the range? (tool_runs.py)"""
        return await tool_runs.can_fix(self.config, self.action(req.action), req)

    async def _run_tool(self, req: RunRequest, plan: Plan, request_id: str) -> RunResult | str:
        """Serve from the tools tier; a failure returns its reason and the models take over."""
        assert plan.tool is not None
        usual = self.plan(req, tool_failure="-").decision
        served = await tool_runs.serve(plan.tool, plan.action.name, req, plan.context.diagnostics,
                                       usual.models[0])
        if self.ledger is not None:
            self._write([tool_runs.ledger_row(request_id, self.session, plan.action, served)])
        if served.failure is not None:
            return served.failure
        return RunResult(request_id, plan, "ok", edit=edits_mod.EditResult(edits=served.edits),
                         model=ModelEntry(model=served.program, price=Price(0.0, 0.0)),
                         tier=tools_mod.TIER, saved_usd=served.saved_usd,
                         latency_ms=served.latency_ms, message=plan.decision.reason)

    # --- run: plan → available → attempt loop → finish -------------------------------------
    async def run(self, req: RunRequest, on_progress: Progress | None = None) -> RunResult:
        """Route, call, check, and record. A model whose answer fails its checks is treated
        like a failed call: the next model in the chain runs (see `_attempt_loop`)."""
        req, plan, request_id = await self._plan_run(req)
        if plan.tool is not None:
            served = await self._run_tool(req, plan, request_id)
            if isinstance(served, RunResult):
                return served
            from routerls.backends import litellm as gateway

            plan = self.plan(req, price_of=gateway.price_per_mtok, tool_failure=served)
        plan = self._reserve(request_id, plan)  # settled by `_record`
        if plan.decision.blocked:
            return RunResult(request_id, plan, "blocked", message=plan.decision.reason)
        from routerls.redact import Redactor, is_dotenv

        run = _Run(request_id, req, plan, Redactor(self.config.redact.patterns,
                                                   dotenv=is_dotenv(req.path), language=req.language_id))
        try:
            await self._available(run)
            if not run.remaining:
                return self._finish(run, "error", message="; ".join(run.notes))
            debate = self.config.debate.get(plan.action.task)
            if debate is not None and not plan.decision.pinned and not plan.action.is_code:
                return await self._debate(run, debate, on_progress)
            return await self._attempt_loop(run, on_progress)
        except asyncio.CancelledError:
            self._cancelled(run)
            raise

    async def _plan_run(self, req: RunRequest) -> tuple[RunRequest, Plan, str]:
        """The request checked and routed, with a fresh request id; what cannot run as asked
        is refused here (EngineError), before anything is called or held."""
        from routerls.backends import litellm as gateway

        await gateway.loaded()  # prices come from litellm's map; the first run may beat the warm-up
        if req.instruction and self.config.route.classifier != "none":
            from routerls import classifier

            await classifier.prepare(self.config, parse_tags(req.instruction)[1])
        req = checked_request(req)
        tool_ok = await self.check_tool(req)
        plan = self.plan(req, price_of=gateway.price_per_mtok, tool_ok=tool_ok)
        if plan.action.result == "new_file":
            new_file_allowed(req)
        return req, plan, uuid.uuid4().hex

    async def _available(self, run: _Run) -> None:
        """The chain less what cannot answer on this machine (no key, no Ollama, no local
        runtime; each with its reason, and the embedded runtime started when the chain needs
        it) and less the models whose calls for today are used up."""
        d = run.plan.decision
        prepared = await availability.prepare(self.config, d.tier, chain(self.config, d), pinned=d.pinned)
        run.remaining, capped = within_daily_calls(self.ledger, list(prepared.chain))
        run.notes = [*prepared.notes, *capped]
        run.entry = run.remaining[0][1] if run.remaining else None

    async def _attempt_loop(self, run: _Run, on_progress: Progress | None) -> RunResult:
        """Ask the chain (the gateway falls back past calls that fail) until an answer passes
        its checks; a rejected answer escalates (`_escalate`); a cancel is `run`'s (`_cancelled`)."""
        from routerls.backends import litellm as gateway

        history = self.transcripts.history(run.req.path) if run.req.follow_up else ()
        max_steps = self.config.escalate.steps_for(run.plan.action.task)
        complete = self.complete or gateway.complete

        def progress(tokens: int) -> None:
            if on_progress is not None and run.entry is not None:
                on_progress(run.entry.name, tokens)

        while run.remaining:
            try:
                completion = await complete(
                    [], run.remaining, self.config.gateway, on_token=progress,
                    on_attempt=run.attempts.append,
                    prompt_for=lambda entry: self._prompt_for(run, entry, history))
            except gateway.GatewayError as exc:  # an earlier rejection's checks stay recorded
                return self._finish(run, "error", checked=run.checked,
                                    message="; ".join([*run.notes, f"every model failed: {exc}"]))
            done = await self._judge(run, completion)
            if done is None:
                done = self._escalate(run, completion, max_steps)
            if done is not None:
                return done
        return self._finish(run, "error", message="; ".join([*run.notes, "no model left to try"]),
                            checked=run.checked)

    def _cancelled(self, run: _Run) -> None:
        """A cancel after the hold — while a runtime starts, a model answers or a debate runs —
        is recorded as an attempt of the model it stopped (before one was asked, like a blocked
        request, as nothing), and the holds settle."""
        from routerls.backends import litellm as gateway

        if run.entry is not None:
            run.attempts.append(gateway.Attempt(
                tier=run.entry_tier or run.tier_of(run.entry), model=run.entry.model, outcome="cancelled",
                error="cancelled by the user", latency_ms=(time.perf_counter() - run.started) * 1000))
        self._record(run.request_id, run.plan, run.attempts, checked=run.checked)

    def _prompt_for(self, run: _Run, entry: ModelEntry, history: Sequence[Turn]):
        """The prompt as it leaves for `entry`, kept on `run` for the transcript. Small local
        models get a completion template or a worked example (prompts.py)."""
        run.entry = entry
        plan = run.plan
        prompt = prompts.for_model(plan.action, plan.context.selection, run.req.language_id,
                                   plan.instruction, entry.style, local_models.is_embedded(entry),
                                   messages_for(plan.action, plan.context, plan.instruction, entry, history))
        run.sent = self._outgoing(run.request_id, run.tier_of(entry), prompt, run.redactor)
        return run.sent

    async def _judge(self, run: _Run, completion) -> RunResult | None:
        """An answer that passes its checks finishes the run; one that fails becomes a
        `bad_output` attempt with the reason, and None says: escalate."""
        verdict = await answers.vet(run.req, run.plan.action, run.plan.context,
                                    run.redactor.restore(completion.text), self.config.checks)
        at = len(run.attempts) - 1
        if verdict.summary:
            run.checked[at] = verdict.summary
        if verdict.failure is None:
            self.transcripts.remember(run.req.path, run.plan.action.name, run.sent, completion)
            note = [f"checked: {run.checked[at]}"] if at in run.checked else []
            return self._finish(run, "ok", edit=verdict.edit, completion=completion,
                                notes=[*run.notes, *note], checked=run.checked)
        run.attempts[-1] = attrs.evolve(run.attempts[-1], outcome="bad_output", error=verdict.failure)
        run.notes.append(f"{completion.entry.name}'s answer was rejected ({verdict.failure})")
        return None

    def _escalate(self, run: _Run, completion, max_steps: int) -> RunResult | None:
        """After a rejected answer: the next stronger tier, with a budget hold of its own —
        or the end, when `escalate.max_steps` is spent or the budget cannot take it."""
        used = run.remaining.index((completion.tier, completion.entry))
        run.steps += 1
        if run.steps > max_steps:
            run.notes.append("not applied" if max_steps == 0 else
                             f"not applied after {run.steps} tries (escalate.max_steps is {max_steps})")
            return self._finish(run, "error", message="; ".join(run.notes), checked=run.checked)
        run.remaining = _escalation(run.remaining[used + 1:], completion.tier, self.config.tier_order)
        if run.remaining:
            tier, entry = run.remaining[0]
            over = self.holds.reserve_step(self.ledger, self.config, run.request_id, run.plan.decision,
                                           run.plan.context.tokens, tier, entry, run.steps)
            if over is not None:
                return self._finish(run, "error", message="; ".join([*run.notes, over]),
                                    checked=run.checked)
            run.notes.append(f"escalated to {tier}")
        return None

    async def _debate(self, run: _Run, debate: Debate, on_progress: Progress | None) -> RunResult:
        """Draft on one tier, then critique and revise on another (debate.py); both calls are
        recorded."""
        from routerls.backends import litellm as gateway

        def prompt_for(tier: str, entry: ModelEntry, critique: list[dict[str, str]]):
            run.entry, run.entry_tier = entry, tier
            messages = [*messages_for(run.plan.action, run.plan.context, run.plan.instruction, entry),
                        *critique]
            return self._outgoing(run.request_id, tier, messages, run.redactor)

        got = await debate_mod.debate(self.config, debate, self.complete or gateway.complete,
                                      prompt_for, run.attempts, on_progress)
        if got.text is None:
            return self._finish(run, "error", message="; ".join(got.notes))
        self.transcripts.remember(run.req.path, run.plan.action.name, None, got.completion)
        return self._finish(run, "ok", edit=edits_mod.EditResult(markdown=got.text),
                            completion=got.completion, notes=got.notes)

    def _finish(self, run: _Run, outcome: str, *, edit=None, completion=None,
                message: str | None = None, notes: Sequence[str] = (),
                checked: dict[int, str] | None = None) -> RunResult:
        """The request's rows written and its holds settled (`_record`); the result with what
        it cost, what it saved, and why it ran where it did."""
        from routerls.backends import litellm as gateway

        request_id, plan, attempts = run.request_id, run.plan, run.attempts
        self._record(request_id, plan, attempts, estimated=bool(completion and completion.estimated),
                     checked=checked)
        cost = sum(a.cost_usd for a in attempts)
        tokens_in = sum(a.input_tokens for a in attempts)
        tokens_out = sum(a.output_tokens for a in attempts)
        latency = (time.perf_counter() - run.started) * 1000
        if completion is None:
            return RunResult(request_id, plan, outcome, message=message, cost_usd=cost,
                             input_tokens=tokens_in, output_tokens=tokens_out, latency_ms=latency,
                             attempts=tuple(attempts))
        counterfactual = gateway.cost_usd(strongest(self.config), completion.input_tokens,
                                          completion.output_tokens)
        reason = plan.decision.reason
        failed = [a for a in attempts[:-1] if a.outcome != "ok"]
        if failed:
            reason += "; fell back from " + ", ".join(_failure(a) for a in failed)
        if notes:
            reason += "; " + "; ".join(notes)
        return RunResult(
            request_id, plan, outcome, edit=edit, model=completion.entry, tier=completion.tier,
            input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost,
            saved_usd=max(counterfactual - cost, 0.0), latency_ms=latency, message=reason,
            attempts=tuple(attempts))

    def _outgoing(self, request_id: str, tier: str, prompt, redactor):
        """The prompt as it leaves: secrets redacted unless it stays on the local tier; kept
        for the ledger when `ledger.store_prompts` is on."""
        if tier != "local" and self.config.redact.enabled and prompt is not None:
            if isinstance(prompt, list):
                prompt = redactor.messages(prompt)
            elif attrs.has(type(prompt)) and hasattr(prompt, "prompt"):
                prompt = attrs.evolve(prompt, prompt=redactor.redact(prompt.prompt))
        if prompt is not None and getattr(self.ledger, "store_prompts", False):
            self._prompts[request_id] = (
                "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" for m in prompt)
                if isinstance(prompt, list) else str(getattr(prompt, "prompt", prompt)))
        return prompt

    def _record(self, request_id: str, plan: Plan, attempts: Sequence, estimated: bool = False,
                checked: dict[int, str] | None = None) -> None:
        """Write the request's rows and settle its reservations (its own in the same ledger
        transaction as the rows)."""
        prompt = self._prompts.pop(request_id, None)
        if self.ledger is None or not attempts:
            self.holds.release(self.ledger, request_id)
            return
        self.holds.settle_steps(self.ledger, request_id)
        from routerls.backends import litellm as gateway
        from routerls.ledger import LedgerRow

        best = strongest(self.config)
        self._write(LedgerRow.from_attempts(
            attempts, request_id=request_id, session=self.session, action=plan.action.name,
            task=plan.action.task, counterfactual=lambda i, o: gateway.cost_usd(best, i, o),
            estimated=estimated, prompt=prompt, checks=checked or {}), release=request_id)

    def _write(self, rows: Sequence, release: str | None = None) -> None:
        """A ledger that cannot be written does not lose the answer: the run goes on and
        `ledger_warning` tells the user."""
        from routerls.ledger import LedgerError

        try:
            self.ledger.record(rows, release=release)
        except LedgerError as exc:
            import logging

            logging.getLogger("routerls").warning("spend not recorded: %s", exc)
            self.ledger_warning = f"spend not recorded: {exc}"


def _escalation(rest: list, failed_tier: str, order: Sequence[str]) -> list:
    """After a rejected answer: the next stronger tier's models onward. When the chain has no
    stronger tier (the user pinned one), the failed tier's remaining models."""
    rank = {t: i for i, t in enumerate(order)}
    stronger = [(t, e) for t, e in rest if rank.get(t, -1) > rank.get(failed_tier, -1)]
    return stronger or rest


def _failure(attempt) -> str:
    """`model (outcome: why)`, short enough for a status line."""
    why = (attempt.error or "").strip().splitlines()[0] if attempt.error else ""
    if len(why) > 90:
        why = why[:87] + "..."
    return f"{attempt.model} ({attempt.outcome}: {why})" if why else f"{attempt.model} ({attempt.outcome})"
