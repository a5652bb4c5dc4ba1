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
from routerls import checks, prompts
from routerls import context as context_mod
from routerls import edits as edits_mod
from routerls.actions import Action
from routerls.backends import availability
from routerls.backends import tools as tools_mod
from routerls.backends.local.models import is_embedded
from routerls.config import Config, ModelEntry, Price, ToolEntry
from routerls.context import Context, Diagnostic
from routerls.router import (
    RouteDecision,
    RouteError,
    Spend,
    chain,
    parse_tags,
    route,
    strongest,
    within_budget,
)
from routerls.text import Range, line_starts, normalise_range

OUTPUT_RESERVE_TOKENS = 1024
MAX_TURNS = 8  # exchanges kept per document for follow-ups
CRITIQUE_PROMPT = (
    "Critique the answer above: list its weaknesses, risks and anything it missed. Then write "
    "the complete, improved answer. Use Markdown with the sections `## Critique` and "
    "`## Revised`.")


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
    follow_up: bool = False  # continue this document's conversation ("more detail", "that broke X")


@attrs.frozen
class Turn:
    """One exchange of a document's conversation, kept so a follow-up has it on any model."""

    action: str
    user: str
    assistant: str
    model: str


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
        self.transcripts: dict[str, list[Turn]] = {}  # path → the document's conversation
        # request id → estimated cost, held from routing until the ledger has the real cost, so
        # concurrent requests see each other's spend (see `_reserve`)
        self.reserved: dict[str, float] = {}
        self._holds: dict[str, list[str]] = {}  # request id → its escalation reservations
        self._prompts: dict[str, str] = {}  # request id → prompt as sent (ledger.store_prompts)
        self.ledger_warning: str | None = None  # the last failed ledger write, for the user
        self.learned: dict = {}  # workspace → learning.Estimates (route.learn); see `estimates`

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
        self.transcripts.pop(path, None)

    # --- decide (no model call, no litellm) ------------------------------------------------
    def action(self, name: str) -> Action:
        found = actions_mod.find((*actions_mod.all_actions(self.config), *actions_mod.INTERNAL), name)
        if found is None:
            names = ", ".join(a.name for a in actions_mod.all_actions(self.config))
            raise EngineError(f"unknown action {name!r}; available: {names}")
        return found

    def spend(self) -> Spend:
        """Spend recorded, plus what requests in flight hold: in the ledger for every process,
        and in `reserved` for this one's requests the ledger could not take."""
        held = sum(self.reserved.values())
        if self.ledger is None:
            return Spend(held, held)
        try:
            s = self.ledger.spend(self.session, held=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable ledger must not stop the editor
            self.ledger_warning = f"spend not read: {exc}"
            return Spend(held, held)
        return Spend(s.today_usd + held, s.month_usd + held)

    def _reserve(self, request_id: str, plan: Plan) -> Plan:
        """Hold the plan's estimate until `_record` (or `_release`) settles it, and return the
        plan as the budget now lets it run. The budget is checked again on the spend of every
        process — recorded calls plus live reservations — in the same ledger transaction that
        takes the hold, so N processes (CLI runs, several editors) cannot all fit one budget;
        a plan that no longer fits is downgraded or blocked (`on_exceed`), and a blocked plan
        holds nothing. Calling it again for the same request replaces its hold (e.g. before an
        escalated attempt: pass the plan with the stronger decision, check `.decision.blocked`).
        Without a ledger (or when it fails) the hold is kept in this process only."""
        from routerls.backends.litellm import price_per_mtok

        decided = [plan.decision]

        def hold(spend) -> float:
            decision = within_budget(self.config, plan.decision, plan.context.tokens,
                                     Spend(spend.today_usd, spend.month_usd), price_per_mtok)
            decided[0] = decision
            return 0.0 if decision.blocked else (decision.estimated_usd or 0.0)

        self.reserved.pop(request_id, None)
        if self.ledger is not None:
            try:
                self.ledger.reserve(request_id, self.session, hold)
                return attrs.evolve(plan, decision=decided[0])
            except Exception as exc:  # noqa: BLE001 - a failing ledger must not stop the run
                self.ledger_warning = f"budget not reserved in the ledger: {exc}"
        amount = hold(self.spend())
        if amount:
            self.reserved[request_id] = amount
        return attrs.evolve(plan, decision=decided[0])

    def _release(self, request_id: str) -> None:
        """Settle a request's holds without recording a call: its own and each escalation's
        (`_reserve_step`)."""
        for held in (request_id, *self._holds.pop(request_id, ())):
            self._release_one(held)

    def _release_one(self, hold: str) -> None:
        self.reserved.pop(hold, None)
        if self.ledger is not None:
            try:
                self.ledger.release(hold)
            except Exception as exc:  # noqa: BLE001 - an expired hold frees itself
                self.ledger_warning = f"budget hold not released: {exc}"

    def _reserve_step(self, request_id: str, plan: Plan, tier: str, entry: ModelEntry,
                      step: int) -> str | None:
        """Before a stronger attempt: hold what it is expected to cost, beside what the request
        already holds, through `_reserve` (so every process sees it and the budget is checked
        on all of their spend). Returns why the budget cannot take it (the escalation stops),
        or None."""
        hold = f"{request_id}+{step}"
        wanted = attrs.evolve(plan.decision, tier=tier, models=(entry,), pinned=False, blocked=False)
        got = self._reserve(hold, attrs.evolve(plan, decision=wanted)).decision
        if got.blocked or got.tier != tier:
            self._release_one(hold)
            return f"not escalated to {entry.name} ({tier}): the budget cannot take it ({got.reason})"
        self._holds.setdefault(request_id, []).append(hold)
        return None

    def plan(self, req: RunRequest, price_of=None, *, tool_ok: bool = False,
             tool_failure: str | None = None) -> Plan:
        """Decide without calling anything. A fix-type tool (one that must be asked whether it
        can fix the diagnostics) is only chosen with `tool_ok`; see `check_tool`."""
        req = checked_request(req)
        action = self.action(req.action)
        ctx = context_mod.gather(req.text, req.range, path=req.path, language_id=req.language_id,
                                 diagnostics=req.diagnostics, encoding=req.encoding)
        _, instruction = parse_tags(req.instruction)
        classified = None
        if instruction and self.config.route.classifier != "none":
            from routerls import classifier  # only here: never on the codeAction path

            classified = classifier.route_hint(self.config, instruction)
        pick = tools_mod.pick(self.config, action.name, req.language_id)
        usable = pick.entry is not None and tool_failure is None and (pick.entry.fixable is None or tool_ok)
        try:
            decision = route(self.config, action.task, text=action.name, tokens=ctx.tokens,
                             tier=req.tier, instruction=req.instruction, spend=self.spend(),
                             price_of=price_of, tool=pick.entry.name if usable else None,
                             tool_note=tool_failure or pick.note, classified=classified,
                             learned=self.estimates(req.workspace_root))
        except RouteError as exc:
            raise EngineError(str(exc)) from None
        decision = self._keep_local(req, decision, action.task, ctx.tokens, price_of)
        return Plan(action, ctx, decision, instruction,
                    pick.entry if decision.tier == tools_mod.TIER else None)

    def _keep_local(self, req: RunRequest, decision: RouteDecision, task: str, tokens: int,
                    price_of) -> RouteDecision:
        """A file matching `local_only` goes to the local tier (or a tool), pinned: no fallback
        to a remote tier, whatever the task, rules, tags or budget say."""
        from routerls import redact

        glob = redact.local_only_match(req.path, self.config.local_only, req.workspace_root)
        if glob is None or decision.tier in (tools_mod.TIER, "local"):
            return attrs.evolve(decision, pinned=True) if glob and decision.tier == "local" else decision
        if "local" not in self.config.tiers:
            raise EngineError(f"{req.path} matches local_only {glob!r}: only the local tier may see "
                              "it, and no `local` tier is configured")
        local_decision = route(self.config, task, text=req.action, tokens=tokens, tier="local",
                               spend=self.spend(), price_of=price_of)
        return attrs.evolve(local_decision, reason=f"the file matches local_only {glob!r}, so local "
                            f"only (not {decision.tier})", rule="local_only", pinned=True)

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
        from routerls.backends import litellm as gateway

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
    def messages_for(self, plan: Plan, entry: ModelEntry, history: Sequence[Turn] = ()) -> list[dict[str, str]]:
        """The prompt for one model: the context trimmed to that model's window, after the
        document's earlier turns (oldest dropped first) when this is a follow-up. The turns are
        plain user/assistant messages, so they carry over to any provider; litellm maps the
        system prompt to each provider's own form."""
        from routerls.backends import litellm as gateway

        budget = max(gateway.context_window(entry) - OUTPUT_RESERVE_TOKENS, 512)
        ctx = context_mod.trim(plan.context, max(budget // 2, 512) if history else budget)
        messages = actions_mod.messages(plan.action, context_mod.render(ctx), plan.instruction)
        if not history:
            return messages
        turns = list(history)
        used = sum(context_mod.estimate_tokens(m["content"]) for m in messages)
        while turns and used + sum(context_mod.estimate_tokens(t.user + t.assistant) for t in turns) > budget:
            turns.pop(0)
        earlier = [m for t in turns for m in ({"role": "user", "content": t.user},
                                              {"role": "assistant", "content": t.assistant})]
        return [messages[0], *earlier, *messages[1:]]

    async def run(self, req: RunRequest, on_progress: Progress | None = None) -> RunResult:
        """Route, call, check, and record. A model whose answer fails the checks of
        `edits.build_result` is treated like a failed call: the next model in the chain runs."""
        from routerls.backends import litellm as gateway

        if req.instruction and self.config.route.classifier != "none":
            from routerls import classifier

            await classifier.prepare(self.config, parse_tags(req.instruction)[1])
        req = checked_request(req)
        tool_ok = await self.check_tool(req)
        plan = self.plan(req, price_of=gateway.price_per_mtok, tool_ok=tool_ok)
        if plan.action.result == "new_file":
            _new_file_allowed(req)
        request_id = uuid.uuid4().hex
        if plan.tool is not None:
            served = await self._run_tool(req, plan, request_id)
            if isinstance(served, RunResult):
                return served
            plan = self.plan(req, price_of=gateway.price_per_mtok, tool_failure=served)
        plan = self._reserve(request_id, plan)  # settled by `_record`
        if plan.decision.blocked:
            return RunResult(request_id, plan, "blocked", message=plan.decision.reason)
        from routerls.redact import Redactor, is_dotenv

        redactor = Redactor(self.config.redact.patterns, dotenv=is_dotenv(req.path), language=req.language_id)

        attempts: list = []
        started = time.perf_counter()
        # drop what cannot answer on this machine (no key, no Ollama, no local runtime), each
        # with its reason; start the embedded runtime here when the chain needs it
        prepared = await availability.prepare(self.config, plan.decision.tier,
                                       chain(self.config, plan.decision), pinned=plan.decision.pinned)
        remaining, capped = self._within_daily_calls(list(prepared.chain))
        rejected: list[str] = [*prepared.notes, *capped]
        if not remaining:
            return self._finish(request_id, plan, "error", attempts, started, message="; ".join(rejected))
        current: dict = {"entry": remaining[0][1] if remaining else None}
        history = self.transcripts.get(req.path, ()) if req.follow_up else ()
        debate = self.config.debate.get(plan.action.task)
        if debate is not None and not plan.decision.pinned and not plan.action.is_code:
            return await self._debate(req, plan, request_id, debate, redactor, started, on_progress)
        steps, max_steps = 0, self.config.escalate.steps_for(plan.action.task)
        checked: dict[int, str] = {}  # attempt index → what its checks said (ledger `checks`)

        def progress(tokens: int) -> None:
            if on_progress is not None and current["entry"] is not None:
                on_progress(current["entry"].name, tokens)

        def prompt_for(entry: ModelEntry):
            current["entry"] = entry
            # small local models get a completion template or a worked example (prompts.py)
            prompt = prompts.for_model(plan.action, plan.context.selection, req.language_id,
                                       plan.instruction, entry.style, is_embedded(entry),
                                       self.messages_for(plan, entry, history))
            tier = next((t for t, e in remaining if e == entry), plan.decision.tier)
            current["sent"] = sent = self._outgoing(request_id, tier, prompt, redactor)
            return sent

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
                failure: str | None
                try:
                    edit = edits_mod.build_result(
                        plan.action.result, req.text, req.range, redactor.restore(completion.text),
                        path=req.path,
                        language_id=req.language_id, encoding=req.encoding,
                        workspace_root=req.workspace_root)
                    edit = _contained(edit, req)
                    verdict = await self._verify(req, plan, edit)
                    failure = verdict.failure
                    if verdict.summary:
                        checked[len(attempts) - 1] = verdict.summary
                except edits_mod.EditError as exc:
                    failure = str(exc)
                if failure is None:
                    self._remember(req.path, plan.action.name, current.get("sent"), completion)
                    note = [f"checked: {checked[len(attempts) - 1]}"] if len(attempts) - 1 in checked else []
                    return self._finish(request_id, plan, "ok", attempts, started, edit=edit,
                                        completion=completion, notes=[*rejected, *note], checked=checked)
                attempts[-1] = attrs.evolve(attempts[-1], outcome="bad_output", error=failure)
                rejected.append(f"{completion.entry.name}'s answer was rejected ({failure})")
                steps += 1
                if steps > max_steps:
                    rejected.append("not applied" if max_steps == 0 else
                                    f"not applied after {steps} tries (escalate.max_steps is {max_steps})")
                    return self._finish(request_id, plan, "error", attempts, started,
                                        message="; ".join(rejected), checked=checked)
                remaining = _escalation(remaining[used + 1:], completion.tier, self.config.tier_order)
                if remaining:
                    over = self._reserve_step(request_id, plan, *remaining[0], steps)
                    if over is not None:
                        return self._finish(request_id, plan, "error", attempts, started,
                                            message="; ".join([*rejected, over]), checked=checked)
                    rejected.append(f"escalated to {remaining[0][0]}")
            return self._finish(request_id, plan, "error", attempts, started,
                                message="; ".join([*rejected, "no model left to try"]), checked=checked)
        except asyncio.CancelledError:
            entry = current["entry"]
            tier = next((t for t, e in remaining if e == entry), plan.decision.tier)
            attempts.append(gateway.Attempt(
                tier=tier, model=entry.model if entry else "", outcome="cancelled",
                error="cancelled by the user", latency_ms=(time.perf_counter() - started) * 1000))
            self._record(request_id, plan, attempts, checked=checked)
            raise

    async def _verify(self, req: RunRequest, plan: Plan, edit: edits_mod.EditResult) -> checks.Outcome:
        """The checks of `checks/` on a code result; a failure is why it must not be applied."""
        if edit.markdown is not None:
            return checks.Outcome(None)
        rng = plan.context.range
        before_sel = plan.context.selection
        after = edits_mod.apply_edits(req.text, edit.edits, req.encoding) if edit.edits else req.text
        after_sel = edits_mod.apply_edits(before_sel, _relative(edit.edits, rng), req.encoding) \
            if _inside(edit.edits, rng) else after
        builtin = any(a.name == plan.action.name for a in actions_mod.BUILTIN)
        subject = checks.Subject(
            action=plan.action.name, result=plan.action.result, builtin=builtin,
            language=req.language_id, path=req.path, before_doc=req.text, after_doc=after,
            before_sel=before_sel, after_sel=after_sel, first_line=rng.start.line,
            diagnostics=tuple(plan.context.diagnostics), workspace_root=req.workspace_root,
            new_file=(str(edit.create.path), edit.create.text) if edit.create is not None else None)
        return await checks.run(subject, self.config.checks)

    def _within_daily_calls(self, pairs: list) -> tuple[list, list[str]]:
        """Drop models whose `max_calls_per_day` is used up (a subscription plan's limit)."""
        if self.ledger is None:
            return pairs, []
        kept, notes = [], []
        for tier, entry in pairs:
            limit = entry.max_calls_per_day
            if limit is not None:
                try:
                    used = self.ledger.calls_today(entry.model)
                except Exception:  # noqa: BLE001  # an unreadable ledger must not stop the run
                    used = 0
                if used >= limit:
                    notes.append(f"{entry.name} has used its {limit} calls for today")
                    continue
            kept.append((tier, entry))
        return kept, notes

    async def _debate(self, req: RunRequest, plan: Plan, request_id: str, debate, redactor,
                      started: float, on_progress: Progress | None) -> RunResult:
        """Draft on one tier, then critique and revise on another; both calls are recorded."""
        from routerls.backends import litellm as gateway

        attempts: list = []
        notes: list[str] = []
        texts: list[str] = []
        completion = None
        for step, tier in (("draft", debate.draft), ("revise", debate.revise)):
            ready = await availability.prepare(self.config, tier, [(tier, m) for m in self.config.tiers[tier].models],
                                        pinned=True)
            notes += ready.notes

            def prompt_for(entry: ModelEntry, _tier: str = tier, _step: str = step):
                messages = self.messages_for(plan, entry)
                if _step == "revise":
                    messages = [*messages, {"role": "assistant", "content": texts[0]},
                                {"role": "user", "content": CRITIQUE_PROMPT}]
                return self._outgoing(request_id, _tier, messages, redactor)

            def progress(tokens: int, _tier: str = tier, _step: str = step) -> None:
                if on_progress is not None:
                    on_progress(f"{_step} on {_tier}", tokens)

            try:
                if not ready.chain:
                    raise gateway.GatewayError(())
                completion = await gateway.complete([], ready.chain, self.config.gateway, on_token=progress,
                                                    on_attempt=attempts.append, prompt_for=prompt_for)
            except gateway.GatewayError as exc:
                what = f"the {step} on {tier} failed ({exc})" if ready.chain else f"no model of {tier} can answer"
                if completion is None:
                    return self._finish(request_id, plan, "error", attempts, started,
                                        message="; ".join([*notes, what]))
                notes.append(f"{what}; showing the draft")
                break
            texts.append(completion.text)
        assert completion is not None
        self._remember(req.path, plan.action.name, None, completion)
        notes.insert(0, f"debate: {debate.draft} drafted, {debate.revise} critiqued and revised")
        return self._finish(request_id, plan, "ok", attempts, started,
                            edit=edits_mod.EditResult(markdown=texts[-1]), completion=completion, notes=notes)

    def _remember(self, path: str, action: str, sent, completion) -> None:
        """Keep the exchange for follow-ups (the last `MAX_TURNS` per document)."""
        if isinstance(sent, list):
            user = next((m["content"] for m in reversed(sent) if m.get("role") == "user"), "")
        else:
            user = str(sent or "")
        turns = self.transcripts.setdefault(path, [])
        turns.append(Turn(action, user, completion.text, completion.entry.model))
        del turns[:-MAX_TURNS]

    def last_action(self, path: str) -> str | None:
        turns = self.transcripts.get(path)
        return turns[-1].action if turns else None

    def _finish(self, request_id: str, plan: Plan, outcome: str, attempts: Sequence, started: float,
                *, edit=None, completion=None, message: str | None = None,
                notes: Sequence[str] = (), checked: dict[int, str] | None = None) -> RunResult:
        from routerls.backends import litellm as gateway

        self._record(request_id, plan, attempts, estimated=bool(completion and completion.estimated),
                     checked=checked)
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
        transaction as the rows). A ledger that cannot be written does not lose the answer: the
        run goes on and `ledger_warning` tells the user."""
        prompt = self._prompts.pop(request_id, None)
        if self.ledger is None or not attempts:
            self._release(request_id)
            return
        self.reserved.pop(request_id, None)
        for held in self._holds.pop(request_id, ()):
            self._release_one(held)
        from routerls.backends import litellm as gateway
        from routerls.ledger import LedgerError, LedgerRow

        best = strongest(self.config)
        try:
            self.ledger.record(LedgerRow.from_attempts(
                attempts, request_id=request_id, session=self.session, action=plan.action.name,
                task=plan.action.task, counterfactual=lambda i, o: gateway.cost_usd(best, i, o),
                estimated=estimated, prompt=prompt, checks=checked or {}), release=request_id)
        except LedgerError as exc:
            import logging

            logging.getLogger("routerls").warning("spend not recorded: %s", exc)
            self.ledger_warning = f"spend not recorded: {exc}"


def checked_request(req: RunRequest) -> RunRequest:
    """The request with its range made real: reversed ends swapped, an end past the document
    clamped to it. A range that starts past the end is refused: nothing there to act on."""
    lines = len(line_starts(req.text))
    first = min(req.range.start, req.range.end)
    if first.line >= lines:
        raise EngineError(f"the range starts at line {first.line + 1}, but {req.path} has {lines} "
                          "line(s); select text inside the document")
    rng = normalise_range(req.text, req.range, req.encoding)
    return req if rng == req.range else attrs.evolve(req, range=rng)


def _new_file_allowed(req: RunRequest) -> None:
    """Refuse before any model call when the new file would land outside the workspace."""
    from routerls.files import FileRefused, new_file_target

    target = edits_mod.new_test_path(req.path, language_id=req.language_id, workspace_root=req.workspace_root)
    try:
        new_file_target(target, req.workspace_root)
    except FileRefused as exc:
        raise EngineError(f"no new file written: {exc}") from None


def _contained(edit: edits_mod.EditResult, req: RunRequest) -> edits_mod.EditResult:
    """A new file's path as it will really be written (symlinks resolved), or EditError when
    that is outside the workspace: the CLI and the editor then name the file they write."""
    if edit.create is None:
        return edit
    from routerls.files import FileRefused, new_file_target

    try:
        real = new_file_target(edit.create.path, req.workspace_root)
    except FileRefused as exc:
        raise edits_mod.EditError(f"no new file written: {exc}") from None
    return attrs.evolve(edit, create=attrs.evolve(edit.create, path=str(real)))


def _escalation(rest: list, failed_tier: str, order: Sequence[str]) -> list:
    """After a rejected answer: the next stronger tier's models onward. When the chain has no
    stronger tier (the user pinned one), the failed tier's remaining models."""
    rank = {t: i for i, t in enumerate(order)}
    stronger = [(t, e) for t, e in rest if rank.get(t, -1) > rank.get(failed_tier, -1)]
    return stronger or rest


def _inside(edits, rng: Range) -> bool:
    return all(rng.start <= e.range.start and e.range.end <= rng.end for e in edits)


def _relative(edits, rng: Range):
    """Edits moved from document positions to positions within the range's own text."""
    from routerls.text import Position

    def rel(p: Position) -> Position:
        return Position(p.line - rng.start.line,
                        p.character - rng.start.character if p.line == rng.start.line else p.character)

    return [attrs.evolve(e, range=Range(rel(e.range.start), rel(e.range.end))) for e in edits]


def _failure(attempt) -> str:
    """`model (outcome: why)`, short enough for a status line."""
    why = (attempt.error or "").strip().splitlines()[0] if attempt.error else ""
    if len(why) > 90:
        why = why[:87] + "..."
    return f"{attempt.model} ({attempt.outcome}: {why})" if why else f"{attempt.model} ({attempt.outcome})"
