"""Budget holds: what a request in flight keeps of the budget until the ledger has its cost
(and `within_daily_calls`: the models whose daily call cap the ledger says is used up).

A request holds its estimate from routing until its rows are written, so concurrent requests —
in this process or any other using the same ledger — see each other's money before it is
recorded. The hold lives in the ledger (every process sees it); without a ledger, or when the
ledger fails, it is kept in this process only (`reserved`).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from routerls.config import Config, ModelEntry
from routerls.router import RouteDecision, Spend, within_budget


class Holds:
    """The budget holds of one engine's requests: its own per request, and one per escalation
    step (`{request_id}+{step}`) beside it."""

    def __init__(self, session: str, warn: Callable[[str], None]):
        self.session = session
        self.reserved: dict[str, float] = {}  # hold id → estimate the ledger could not take
        self._steps: dict[str, list[str]] = {}  # request id → its escalation holds
        self._warn = warn  # a failed ledger read or write, for the user

    def spend(self, ledger) -> Spend:
        """Spend recorded, plus what requests in flight hold: in the ledger for every process,
        and in `reserved` for this one's requests the ledger could not take."""
        held = sum(self.reserved.values())
        if ledger is None:
            return Spend(held, held)
        try:
            s = ledger.spend(self.session, held=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable ledger must not stop the editor
            self._warn(f"spend not read: {exc}")
            return Spend(held, held)
        return Spend(s.today_usd + held, s.month_usd + held)

    def reserve(self, ledger, config: Config, hold_id: str, decision: RouteDecision,
                tokens: int) -> RouteDecision:
        """Hold the decision's estimate until the ledger rows (or `release`) settle it, and
        return the decision as the budget now lets it run. The budget is checked again on the
        spend of every process — recorded calls plus live holds — in the same ledger
        transaction that takes the hold, so N processes (CLI runs, several editors) cannot all
        fit one budget; a decision that no longer fits is downgraded or blocked (`on_exceed`),
        and a blocked one holds nothing. Calling it again for the same id replaces its hold."""
        from routerls.backends.litellm import price_per_mtok

        decided = [decision]

        def hold(spend) -> float:
            got = within_budget(config, decision, tokens, Spend(spend.today_usd, spend.month_usd),
                                price_per_mtok)
            decided[0] = got
            return 0.0 if got.blocked else (got.estimated_usd or 0.0)

        self.reserved.pop(hold_id, None)
        if ledger is not None:
            try:
                ledger.reserve(hold_id, self.session, hold)
                return decided[0]
            except Exception as exc:  # noqa: BLE001 - a failing ledger must not stop the run
                self._warn(f"budget not reserved in the ledger: {exc}")
        amount = hold(self.spend(ledger))
        if amount:
            self.reserved[hold_id] = amount
        return decided[0]

    def reserve_step(self, ledger, config: Config, request_id: str, decision: RouteDecision,
                     tokens: int, tier: str, entry: ModelEntry, step: int) -> str | None:
        """Before a stronger attempt: hold what it is expected to cost, beside what the request
        already holds (so every process sees it and the budget is checked on all of their
        spend). Returns why the budget cannot take it (the escalation stops), or None."""
        hold_id = f"{request_id}+{step}"
        wanted = attrs.evolve(decision, tier=tier, models=(entry,), pinned=False, blocked=False)
        got = self.reserve(ledger, config, hold_id, wanted, tokens)
        if got.blocked or got.tier != tier:
            self.release_one(ledger, hold_id)
            return f"not escalated to {entry.name} ({tier}): the budget cannot take it ({got.reason})"
        self._steps.setdefault(request_id, []).append(hold_id)
        return None

    def release(self, ledger, request_id: str) -> None:
        """Settle a request's holds without recording a call: its own and each escalation's."""
        for held in (request_id, *self._steps.pop(request_id, ())):
            self.release_one(ledger, held)

    def release_one(self, ledger, hold_id: str) -> None:
        self.reserved.pop(hold_id, None)
        if ledger is not None:
            try:
                ledger.release(hold_id)
            except Exception as exc:  # noqa: BLE001 - an expired hold frees itself
                self._warn(f"budget hold not released: {exc}")

    def settle_steps(self, ledger, request_id: str) -> None:
        """Before the request's rows are written: its escalation holds go, and its own hold
        leaves this process (the ledger settles it in the transaction that writes the rows)."""
        self.reserved.pop(request_id, None)
        for held in self._steps.pop(request_id, ()):
            self.release_one(ledger, held)


def within_daily_calls(ledger, pairs: list) -> tuple[list, list[str]]:
    """Drop models whose `max_calls_per_day` is used up (a subscription plan's limit)."""
    if ledger is None:
        return pairs, []
    kept, notes = [], []
    for tier, entry in pairs:
        limit = entry.max_calls_per_day
        if limit is not None:
            try:
                used = ledger.calls_today(entry.model)
            except Exception:  # noqa: BLE001  # an unreadable ledger must not stop the run
                used = 0
            if used >= limit:
                notes.append(f"{entry.name} has used its {limit} calls for today")
                continue
        kept.append((tier, entry))
    return kept, notes
