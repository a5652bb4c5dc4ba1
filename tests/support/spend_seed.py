"""A ledger with two weeks of known spend, for the report and dashboard tests: three paid tiers
and the tools tier, one model recorded under two ids (`openai/rl-mid` and `rl-mid`), escalations
(a rejected cheap answer redone on mid) and a fallback (a rate-limited mid call, frontier
answering). Every figure is a multiple of $0.0001, so sums compare exactly to the cent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from routerls.ledger import Ledger, LedgerRow

CONFIG = """\
tiers:
  local:    {models: [{model: openai/local-coder, price: {input_per_mtok: 0.0, output_per_mtok: 0.0}}]}
  cheap:    {models: [{model: openai/rl-cheap, price: {input_per_mtok: 1.0, output_per_mtok: 4.0}}]}
  mid:      {models: [{model: openai/rl-mid, price: {input_per_mtok: 2.5, output_per_mtok: 10.0}}]}
  frontier: {models: [{model: openai/rl-frontier, name: Frontier-1, price: {input_per_mtok: 10.0, output_per_mtok: 30.0}}]}
budgets: {daily_usd: 0.05, monthly_usd: 1.0}
"""
DAYS = 14
SESSION = "seeded-session"


def _row(day: date, n: int, request: str, tier: str, model: str, cost: float, cf: float, *,
         task: str = "fix", action: str = "fix", outcome: str = "ok", error: str | None = None,
         index: int = 0, session: str = "earlier") -> LedgerRow:
    ts = datetime.combine(day, time(9, 0)).astimezone() + timedelta(minutes=n)
    return LedgerRow(request_id=request, session=session, action=action, task=task, tier=tier,
                     model=model, input_tokens=1000, output_tokens=100, cost_usd=cost,
                     counterfactual_usd=cf, outcome=outcome, error=error, fallback_index=index, ts=ts)


def seed_rows(today: date) -> list[LedgerRow]:
    """Day i (0 = 13 days ago … 13 = today): a cheap explain, a mid fix (ids alternating between
    `openai/rl-mid` and `rl-mid`), a tools format at $0, and on even days a frontier design; every
    third day a cheap fix rejected and escalated to mid, every fifth a rate-limited mid refactor
    that frontier answers."""
    rows: list[LedgerRow] = []
    for i in range(DAYS):
        day = today - timedelta(days=DAYS - 1 - i)
        session = SESSION if i == DAYS - 1 else "earlier"
        rid = f"d{i}"
        rows.append(_row(day, 1, rid + "-explain", "cheap", "openai/rl-cheap", 0.0014, 0.013,
                         task="explain", action="explain", session=session))
        rows.append(_row(day, 2, rid + "-fix", "mid", "openai/rl-mid" if i % 2 else "rl-mid",
                         0.0035 + 0.0001 * i, 0.013, session=session))
        rows.append(_row(day, 3, rid + "-format", "tools", "ruff 0.9.0", 0.0, 0.0042,
                         task="format", action="format", session=session))
        if i % 2 == 0:
            rows.append(_row(day, 4, rid + "-design", "frontier", "openai/rl-frontier", 0.013, 0.013,
                             task="design", action="design", session=session))
        if i % 3 == 0:
            rows.append(_row(day, 5, rid + "-esc", "cheap", "rl-cheap", 0.0014, 0.013,
                             outcome="bad_output", error="ruff still reports F401", session=session))
            rows.append(_row(day, 5, rid + "-esc", "mid", "openai/rl-mid", 0.0035, 0.013, index=1,
                             session=session))
        if i % 5 == 0:
            rows.append(_row(day, 6, rid + "-fb", "mid", "openai/rl-mid", 0.0, 0.0, task="refactor",
                             action="refactor", outcome="rate_limited", error="429", session=session))
            rows.append(_row(day, 6, rid + "-fb", "frontier", "openai/rl-frontier", 0.013, 0.013,
                             task="refactor", action="refactor", index=1, session=session))
    return rows


def seed(data_dir: Path, today: date | None = None) -> list[LedgerRow]:
    rows = seed_rows(today or date.today())
    with Ledger(data_dir / "ledger.sqlite3") as ledger:
        ledger.record(rows)
    return rows
