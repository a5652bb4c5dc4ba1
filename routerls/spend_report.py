"""The ledger read for people: one query layer behind `routerls report` (table and `--json`),
the server's Markdown report and the HTML dashboard, so every view adds up the same way.

A few narrow SQL passes do the work whatever the ledger's size — calls per model, per action, per
local day and tier, failed attempts per task and cause, requests per task, outcomes of applied
edits per task and tier — each a small sort or an index walk (one pass grouped by every column at
once sorted 100 000 rows by five keys and cost more than these together). Weeks, tiers and totals
are folded from the day rows in Python. Model ids are mapped through the config's tiers, so
`openai/rl-mid` and `rl-mid` from one config entry are one row, named as titles name it (the
entry's `name`, else the id's last part).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Literal

import attrs

from routerls.learning import KeptRow, kept_rows
from routerls.ledger import iso_utc

if TYPE_CHECKING:
    from routerls.config import Config
    from routerls.ledger import Ledger

BY = ("model", "day", "week", "action")
ReportBy = Literal["model", "day", "week", "action"]
TOOLS = "tools"  # the tools tier (tools.TIER), named here so reading the ledger imports nothing heavy


@attrs.frozen
class ReportRow:
    """Totals of the calls under one key (a model, an action, a day or a week)."""

    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    counterfactual_usd: float
    saved_usd: float


@attrs.frozen
class DayCell:
    """The calls of one tier on one local calendar day."""

    day: str  # 2025-03-10
    tier: str
    calls: int
    answered: int  # outcome ok
    input_tokens: int
    output_tokens: int
    cost_usd: float
    counterfactual_usd: float

    @property
    def week(self) -> str:
        iso = date.fromisoformat(self.day).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


@attrs.frozen
class TaskStats:
    """Per task class: how many requests, how many had an answer rejected and escalated, and
    the outcomes of the attempts that did not answer (timeout, rate_limited, bad_output, …)."""

    task: str
    requests: int
    escalated: int
    causes: tuple[tuple[str, int], ...]  # (outcome, attempts), most frequent first

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.requests if self.requests else 0.0


@attrs.frozen
class Totals:
    """What the status bar shows, plus the period's sums."""

    cost_usd: float  # in the report's period
    counterfactual_usd: float
    saved_usd: float
    today_usd: float
    month_usd: float
    session_usd: float | None  # None when no session is asked for (the CLI)
    saved_all_usd: float  # all time, as the status bar's "saved"
    calls: int
    requests: int


@attrs.frozen
class Summary:
    by: str  # day | week: the time axis of the charts
    since: date | None
    tiers: tuple[str, ...]  # tools, then the config's tiers cheapest first, then any others
    models: tuple[ReportRow, ...]  # most expensive first
    actions: tuple[ReportRow, ...]
    days: tuple[DayCell, ...]
    tasks: tuple[TaskStats, ...]
    totals: Totals
    daily_budget_usd: float | None
    monthly_budget_usd: float | None
    today: date
    kept: tuple[KeptRow, ...] = ()  # what became of the applied edits, per task class and tier

    def rows(self, by: str) -> list[ReportRow]:
        """Totals by model, action, day or week, as `ledger.report` always gave them."""
        if by == "model":
            return list(self.models)
        if by == "action":
            return list(self.actions)
        return rows_of(self.days, by)

    def _period(self, cell: DayCell) -> str:
        return cell.week if self.by == "week" else cell.day

    @property
    def periods(self) -> list[str]:
        return sorted({self._period(c) for c in self.days})

    def per_period(self, field: str = "cost_usd") -> dict[tuple[str, str], float]:
        """(period, tier) → `cost_usd`, `saved_usd` or `calls` summed."""
        out: dict[tuple[str, str], float] = {}
        for c in self.days:
            key = (self._period(c), c.tier)
            value = c.counterfactual_usd - c.cost_usd if field == "saved_usd" else getattr(c, field)
            out[key] = out.get(key, 0.0) + value
        return out

    def per_tier(self, field: str = "cost_usd") -> dict[str, float]:
        """tier → `cost_usd`, `saved_usd`, `calls` or `answered` over the whole period."""
        out: dict[str, float] = {}
        for c in self.days:
            value = c.counterfactual_usd - c.cost_usd if field == "saved_usd" else getattr(c, field)
            out[c.tier] = out.get(c.tier, 0.0) + value
        return out

    def answered_per_tier(self) -> dict[str, int]:
        """Calls that answered (outcome ok) per tier: the share of the work each tier did."""
        return {t: int(n) for t, n in self.per_tier("answered").items() if n}

    def month_to_date(self) -> list[tuple[str, float]]:
        """(day, spend so far this month) for each day of the current month with calls."""
        first = self.today.replace(day=1).isoformat()
        days: dict[str, float] = {}
        for c in self.days:
            if c.day >= first:
                days[c.day] = days.get(c.day, 0.0) + c.cost_usd
        running, out = 0.0, []
        for day in sorted(days):
            running += days[day]
            out.append((day, running))
        return out


def model_keys(config: Config | None) -> dict[str, str]:
    """Ledger model id → the name users see, for every model of the config: its full id, its
    last part and its name all map to the name (hand-written rows may carry any of them)."""
    keys: dict[str, str] = {}
    if config is None:
        return keys
    for tier in config.tiers.values():
        for entry in tier.models:
            name = entry.name
            if not name:
                continue
            for alias in (entry.model, entry.model.rsplit("/", 1)[-1], name):
                if alias:
                    keys.setdefault(alias, name)
    return keys


def rows_of(cells: Iterable[DayCell], by: str) -> list[ReportRow]:
    """Fold day cells into report rows per day or ISO week, in time order."""
    if by not in ("day", "week"):
        raise ValueError(f"report by {by!r}; allowed: {', '.join(BY)}")
    totals: dict[str, list] = {}
    for c in cells:
        t = totals.setdefault(getattr(c, by), [0, 0, 0, 0.0, 0.0])
        t[0] += c.calls
        t[1] += c.input_tokens
        t[2] += c.output_tokens
        t[3] += c.cost_usd
        t[4] += c.counterfactual_usd
    return [ReportRow(key, calls, inp, out, cost, cf, cf - cost)
            for key, (calls, inp, out, cost, cf) in sorted(totals.items())]


def _since_iso(since: date | None) -> str:
    return iso_utc(datetime.combine(since, time()).astimezone()) if since is not None else ""


def _where(since: date | None) -> tuple[str, tuple]:
    """`WHERE ts >= ?` from local midnight of `since`; nothing without it, so SQLite scans the
    table instead of walking the ts index and looking every row up."""
    return ("WHERE ts >= ?", (_since_iso(since),)) if since is not None else ("", ())


def report(ledger: Ledger, by: ReportBy = "model", since: date | None = None) -> list[ReportRow]:
    """Totals grouped by model, action, local day (`2025-01-31`) or ISO week (`2025-W05`),
    most expensive first for model/action, in time order for day/week (model ids as recorded:
    no config maps them here)."""
    if by not in BY:
        raise ValueError(f"report by {by!r}; allowed: model, day, week, action")
    if by in ("day", "week"):
        return rows_of(read_days(ledger, since), by)
    return read_by(ledger, by, since)


def read_by(ledger: Ledger, column: str, since: date | None = None,
            keys: Mapping[str, str] | None = None) -> list[ReportRow]:
    """Totals per `model` or `action` since `since` (local midnight), the most expensive first;
    model ids mapped through `keys`, so two ids of one config entry add up to one row."""
    assert column in ("model", "action"), column
    where, params = _where(since)
    rows = ledger.select(
        f"""SELECT {column}, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd),
                   SUM(counterfactual_usd)
            FROM calls {where} GROUP BY 1""", params)
    keys = keys or {}
    merged: dict[str, list] = {}
    for key, calls, inp, out, cost, cf in rows:
        t = merged.setdefault(keys.get(key, key), [0, 0, 0, 0.0, 0.0])
        t[0] += calls
        t[1] += inp or 0
        t[2] += out or 0
        t[3] += cost or 0.0
        t[4] += cf or 0.0
    return sorted((ReportRow(k, calls, inp, out, cost, cf, cf - cost)
                   for k, (calls, inp, out, cost, cf) in merged.items()),
                  key=lambda r: (-r.cost_usd, r.key))


def read_days(ledger: Ledger, since: date | None = None) -> list[DayCell]:
    """The calls since `since` per local calendar day and tier. Each day is the range between
    two local midnights written as UTC text, joined to the ts index: exact across DST and
    half-hour zones, and no per-row time zone conversion (that cost seconds on 100 000 rows)."""
    (first, last), = ledger.select("SELECT MIN(ts), MAX(ts) FROM calls WHERE ts >= ?", (_since_iso(since),))
    if first is None:
        return []
    day = datetime.fromisoformat(first).astimezone().date()
    end = datetime.fromisoformat(last).astimezone().date()
    bounds: list[tuple[str, str, str]] = []
    while day <= end:
        nxt = date.fromordinal(day.toordinal() + 1)
        bounds.append((day.isoformat(), iso_utc(datetime.combine(day, time()).astimezone()),
                       iso_utc(datetime.combine(nxt, time()).astimezone())))
        day = nxt
    cells: list[DayCell] = []
    for chunk in range(0, len(bounds), 300):  # well under SQLite's bound-parameter limit
        part = bounds[chunk:chunk + 300]
        values = ", ".join("(?, ?, ?)" for _ in part)
        rows = ledger.select(
            f"""WITH days(day, lo, hi) AS (VALUES {values})
                SELECT days.day, tier, COUNT(*), SUM(outcome = 'ok'), SUM(input_tokens),
                       SUM(output_tokens), SUM(cost_usd), SUM(counterfactual_usd)
                FROM days JOIN calls ON calls.ts >= days.lo AND calls.ts < days.hi
                GROUP BY days.day, tier ORDER BY days.day, tier""",
            [v for b in part for v in b])
        cells += [DayCell(d, tier, calls, int(ok or 0), inp or 0, out or 0, cost or 0.0, cf or 0.0)
                  for d, tier, calls, ok, inp, out, cost, cf in rows]
    return cells


def read_tasks(ledger: Ledger, since: date | None = None) -> list[TaskStats]:
    """Requests per task, those with a rejected answer (`bad_output`: the checks failed and the
    engine escalated or refused), and the outcomes of the attempts that did not answer."""
    where, params = _where(since)
    # a request has one task; MIN() lets SQLite group in request_id index order, without a sort
    requests = ledger.select(
        f"""SELECT task, COUNT(*), SUM(rejected) FROM (
                SELECT MIN(task) AS task, MAX(outcome = 'bad_output') AS rejected FROM calls
                {where} GROUP BY request_id)
            GROUP BY task""", params)
    causes: dict[str, list[tuple[str, int]]] = {}
    for task, outcome, n in ledger.select(
            f"""SELECT task, outcome, COUNT(*) FROM calls {where + ' AND' if where else 'WHERE'}
                outcome != 'ok' GROUP BY 1, 2 ORDER BY 3 DESC, 2""", params):
        causes.setdefault(task, []).append((outcome, n))
    stats = [TaskStats(task, n, int(rejected or 0), tuple(causes.get(task, ())))
             for task, n, rejected in requests]
    return sorted(stats, key=lambda s: (-s.requests, s.task))


def tier_order(config: Config | None, seen: Iterable[str]) -> tuple[str, ...]:
    order = [TOOLS, *(config.tier_order if config is not None else ("local", "cheap", "mid", "frontier"))]
    return tuple(order + sorted(set(seen) - set(order)))


def summarize(ledger: Ledger, *, by: str = "day", since: date | None = None,
              config: Config | None = None, session: str | None = None,
              now: datetime | None = None) -> Summary:
    """Everything the reports and the dashboard show, read in one go."""
    if by not in ("day", "week"):
        raise ValueError(f"dashboard by {by!r}; allowed: day, week")
    models = read_by(ledger, "model", since, model_keys(config))
    actions = read_by(ledger, "action", since)
    days = read_days(ledger, since)
    tasks = read_tasks(ledger, since)
    spend = ledger.spend(session, now)
    cost = sum(c.cost_usd for c in days)
    cf = sum(c.counterfactual_usd for c in days)
    totals = Totals(cost_usd=cost, counterfactual_usd=cf, saved_usd=cf - cost,
                    today_usd=spend.today_usd, month_usd=spend.month_usd,
                    session_usd=spend.session_usd if session is not None else None,
                    saved_all_usd=spend.saved_usd, calls=sum(c.calls for c in days),
                    requests=sum(t.requests for t in tasks))
    since_at = datetime.combine(since, time()).astimezone() if since is not None else None
    kept = kept_rows(ledger.outcome_report(since=since_at), tier_order(config, ()))
    budgets = config.budgets if config is not None else None
    return Summary(by=by, since=since, tiers=tier_order(config, (c.tier for c in days)),
                   models=tuple(models), actions=tuple(actions), days=tuple(days), tasks=tuple(tasks),
                   totals=totals,
                   daily_budget_usd=budgets.daily_usd if budgets else None,
                   monthly_budget_usd=budgets.monthly_usd if budgets else None,
                   today=(now or datetime.now()).astimezone().date(), kept=tuple(kept))


def report_json(summary: Summary, by: str) -> dict:
    """`routerls report --json`: full precision, the same sums the table and dashboard show."""
    t = summary.totals
    answered, cost, saved = (summary.per_tier(f) for f in ("answered", "cost_usd", "saved_usd"))
    return {
        "by": by, "since": summary.since.isoformat() if summary.since else None,
        "rows": [_row_json(r) for r in summary.rows(by)],
        "total_usd": t.cost_usd, "counterfactual_usd": t.counterfactual_usd, "saved_usd": t.saved_usd,
        "today_usd": t.today_usd, "month_usd": t.month_usd, "saved_all_usd": t.saved_all_usd,
        "calls": t.calls, "requests": t.requests,
        "tiers": {tier: {"answered": int(answered.get(tier, 0)), "cost_usd": cost.get(tier, 0.0),
                         "saved_usd": saved.get(tier, 0.0)} for tier in summary.tiers},
        "tasks": [{"task": s.task, "requests": s.requests, "escalated": s.escalated,
                   "escalation_rate": s.escalation_rate, "causes": dict(s.causes)}
                  for s in summary.tasks],
        "budget": {"daily_usd": summary.daily_budget_usd, "monthly_usd": summary.monthly_budget_usd},
        "kept": [k.to_json() for k in summary.kept],
    }


def _row_json(r: ReportRow) -> dict:
    return {"key": str(r.key), "calls": r.calls, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "cost_usd": r.cost_usd,
            "counterfactual_usd": r.counterfactual_usd, "saved_usd": r.saved_usd}
