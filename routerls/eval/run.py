"""Cases through the engine: each as an editor's request with the tier pinned, no ledger, on
every tier that can answer here, cheapest first."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from routerls.config import Config, UserAction
from routerls.eval.cases import (
    IMPLEMENT,
    IMPLEMENT_PROMPT,
    Case,
    EvalError,
    module_name,
    write_case,
)
from routerls.eval.judge import check
from routerls.eval.report import Outcome, Report, cheapest, summarize

DEFAULT_TARGET = 0.95


def eval_config(config: Config) -> Config:
    """The config eval runs with: the user's, plus the action HumanEval cases run as."""
    if any(a.name == IMPLEMENT for a in config.actions):
        return config
    task = "refactor" if "refactor" in config.tasks else next(iter(config.tasks))
    return attrs.evolve(config, actions=(*config.actions, UserAction(
        name=IMPLEMENT, title="Implement", task=task, prompt=IMPLEMENT_PROMPT)))


def request_for(case: Case, tier: str | None, workspace: Path | None = None):
    """The `RunRequest` an editor would send for this case: the whole file selected, with the
    diagnostic a linter (or a failing run) reports."""
    from routerls.context import Diagnostic
    from routerls.request import RunRequest
    from routerls.text import Range, split_lines

    lines = split_lines(case.code)
    whole = Range.of(0, 0, len(lines) - 1, len(lines[-1]))
    diagnostics: tuple[Diagnostic, ...] = ()
    if case.diagnostic is not None:
        line = case.diagnostic[0] - 1
        diagnostics = (Diagnostic(Range.of(line, 0, line, len(lines[line])), case.diagnostic[1], 1,
                                  None, "eval"),)
    else:
        try:
            compile(case.code, "<case>", "exec")
        except SyntaxError as exc:
            line = max((exc.lineno or 1) - 1, 0)
            col = max((exc.offset or 1) - 1, 0)
            diagnostics = (Diagnostic(Range.of(line, col, line, col + 1), f"SyntaxError: {exc.msg}",
                                      1, "E999", "python"),)
    root = workspace or Path.cwd()
    safe = module_name(case.id)
    return RunRequest(action=case.action, path=str(root / f"{safe}.py"), text=case.code,
                      range=whole, diagnostics=diagnostics, tier=tier, workspace_root=str(root))


async def run_case(engine, case: Case, tier: str, workspace: Path | None = None, *,
                   case_files: bool = True) -> Outcome:
    """One case through the engine. With `case_files` the case is a small project of its own in a
    temporary folder (`write_case`), so the engine's checks see its tests as they would a
    project's; without, the document exists only in the request (as an unsaved buffer)."""
    from routerls.edits import apply_edits

    if case_files:
        with tempfile.TemporaryDirectory(prefix="routerls-case-") as tmp:
            write_case(case, Path(tmp))
            req = request_for(case, tier, Path(tmp))
            result = await engine.run(req)
    else:
        req = request_for(case, tier, workspace)
        result = await engine.run(req)
    base: dict[str, Any] = {
        "case": case.id, "task": case.task, "tier": tier, "cost_usd": result.cost_usd,
        "latency_ms": result.latency_ms, "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "model": result.model.model if result.model is not None else None}
    if result.outcome != "ok" or result.edit is None:
        return Outcome(passed=False, reason=f"{result.outcome}: {result.message}", **base)
    if result.tier != tier:
        return Outcome(passed=False, reason=f"answered by {result.tier}, not {tier}", **base)
    new_text = apply_edits(case.code, result.edit.edits, req.encoding)
    passed, why = await check(case, new_text)
    return Outcome(passed=passed, reason=why, applied=True, **base)


async def available_tiers(config: Config, tiers: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The tiers that can answer on this machine, and why each other one cannot (no key, no
    local runtime). Starts the embedded local runtime when the local tier needs it."""
    from routerls.backends import availability

    ok: list[str] = []
    skipped: dict[str, str] = {}
    for tier in tiers:
        chain = [(tier, m) for m in config.tiers[tier].models]
        prepared = await asyncio.to_thread(availability.prepare_sync, config, tier, chain, pinned=True)
        if prepared.chain:
            ok.append(tier)
        else:
            skipped[tier] = "; ".join(prepared.notes) or "no model can answer"
    return ok, skipped


async def evaluate(config: Config, cases: Sequence[Case], tiers: Sequence[str] | None = None, *,
                   target: float = DEFAULT_TARGET, jobs: int = 4, workspace: Path | None = None,
                   case_files: bool = True,
                   on_outcome: Callable[[Outcome], None] | None = None) -> Report:
    """Run every case on every tier (cheapest tier first) and summarise."""
    from routerls.engine import Engine

    config = eval_config(config)
    order = config.tier_order
    wanted = list(order if tiers is None else tiers)
    for tier in wanted:
        if tier not in config.tiers:
            raise EvalError(f"unknown tier {tier!r}; allowed: {', '.join(order)}")
    wanted.sort(key=order.index)
    runnable, skipped = await available_tiers(config, wanted)
    engine = Engine(config, ledger=None, session="eval")
    limit = asyncio.Semaphore(max(1, jobs))

    async def one(case: Case, tier: str) -> Outcome:
        async with limit:
            try:
                outcome = await run_case(engine, case, tier, workspace, case_files=case_files)
            except Exception as exc:  # noqa: BLE001  # one broken case must not end the run
                outcome = Outcome(case.id, case.task, tier, False, reason=f"error: {exc}")
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    outcomes: list[Outcome] = []
    for tier in runnable:
        outcomes += await asyncio.gather(*(one(case, tier) for case in cases))
    cells = summarize(outcomes, [c.task for c in cases], runnable)
    return Report(tuple(runnable), skipped, tuple(cells), tuple(outcomes), target,
                  cheapest(cells, runnable, target),
                  {t: tuple(m.model for m in config.tiers[t].models) for t in runnable})
