"""The ledger read for people: one query layer behind `routerls report` (table and `--json`),
the server's Markdown report and the HTML dashboard, so every view adds up the same way.

Two SQL passes do the work whatever the ledger's size: calls grouped by local day, tier, model,
task, action and outcome (a few hundred groups), and requests grouped by task (for the
escalation rate). Everything else — weeks, models, tiers, top actions — is folded from those
groups in Python. Model ids are mapped through the config's tiers, so `openai/rl-mid` and
`rl-mid` from one config entry are one row, named as titles name it (`label`, else the id's last
part).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Literal

import attrs

from routerls.ledger import ReportRow

if TYPE_CHECKING:
    from routerls.config import Config
    from routerls.ledger import Ledger

ReportBy = Literal["model", "day", "week", "action"]
BY = ("model", "day", "week", "action")
TOOLS = "tools"  # the tools tier (tools.TIER), named here so reading the ledger imports nothing heavy


@attrs.frozen
class Group:
    """The calls of one local day, tier, model, task, action and outcome."""

    day: str  # local calendar day, 2025-03-10
    tier: str
    model: str  # the ledger's model id, before mapping
    task: str
    action: str
    outcome: str
    calls: int
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
    groups: tuple[Group, ...]
    tasks: tuple[TaskStats, ...]
    totals: Totals
    daily_budget_usd: float | None
    monthly_budget_usd: float | None
    today: date

    def rows(self, by: str) -> list[ReportRow]:
        """Totals by model, action, day or week, as `ledger.report` always gave them."""
        return rows_of(self.groups, by)

    @property
    def periods(self) -> list[str]:
        return sorted({g.week if self.by == "week" else g.day for g in self.groups})

    def per_period(self, field: str = "cost_usd") -> dict[tuple[str, str], float]:
        """(period, tier) → `cost_usd`, `saved_usd` or `calls` summed."""
        out: dict[tuple[str, str], float] = {}
        for g in self.groups:
            key = (g.week if self.by == "week" else g.day, g.tier)
            value = g.counterfactual_usd - g.cost_usd if field == "saved_usd" else getattr(g, field)
            out[key] = out.get(key, 0.0) + value
        return out

    def answered_per_tier(self) -> dict[str, int]:
        """Calls that answered (outcome ok) per tier: the share of the work each tier did."""
        out: dict[str, int] = {}
        for g in self.groups:
            if g.outcome == "ok":
                out[g.tier] = out.get(g.tier, 0) + g.calls
        return out

    def month_to_date(self) -> list[tuple[str, float]]:
        """(day, spend so far this month) for each day of the current month with calls."""
        first = self.today.replace(day=1).isoformat()
        days: dict[str, float] = {}
        for g in self.groups:
            if g.day >= first:
                days[g.day] = days.get(g.day, 0.0) + g.cost_usd
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


def rows_of(groups: Iterable[Group], by: str) -> list[ReportRow]:
    """Fold groups into report rows: the most expensive first by model/action, in time order
    by day/week."""
    if by not in BY:
        raise ValueError(f"report by {by!r}; allowed: {', '.join(BY)}")
    totals: dict[str, list] = {}
    for g in groups:
        key = getattr(g, by)
        t = totals.setdefault(key, [0, 0, 0, 0.0, 0.0])
        t[0] += g.calls
        t[1] += g.input_tokens
        t[2] += g.output_tokens
        t[3] += g.cost_usd
        t[4] += g.counterfactual_usd
    rows = [ReportRow(key, calls, inp, out, cost, cf, cf - cost)
            for key, (calls, inp, out, cost, cf) in totals.items()]
    if by in ("day", "week"):
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (-r.cost_usd, r.key))


def _since_iso(since: date | None) -> str:
    if since is None:
        return ""
    from routerls.ledger import _iso

    return _iso(datetime.combine(since, time()).astimezone())


def read_groups(ledger: Ledger, since: date | None = None,
                keys: Mapping[str, str] | None = None) -> list[Group]:
    """The calls since `since` (local midnight) grouped; model ids mapped through `keys`.
    SQLite's `localtime` and Python's `astimezone()` read the same zone (TZ), so a day here is
    the day `Ledger.spend` counts as today."""
    rows = ledger.select(
        """SELECT date(ts, 'localtime'), tier, model, task, action, outcome, COUNT(*),
                  SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), SUM(counterfactual_usd)
           FROM calls WHERE ts >= ? GROUP BY 1, 2, 3, 4, 5, 6""", (_since_iso(since),))
    keys = keys or {}
    merged: dict[tuple, list] = {}
    for day, tier, model, task, action, outcome, calls, inp, out, cost, cf in rows:
        k = (day, tier, keys.get(model, model), task, action, outcome)
        t = merged.setdefault(k, [0, 0, 0, 0.0, 0.0])
        t[0] += calls
        t[1] += inp or 0
        t[2] += out or 0
        t[3] += cost or 0.0
        t[4] += cf or 0.0
    return [Group(*k, *v) for k, v in sorted(merged.items())]


def read_tasks(ledger: Ledger, since: date | None = None) -> list[TaskStats]:
    """Requests per task, those with a rejected answer (`bad_output`: the checks failed and the
    engine escalated or refused), and the outcomes of the attempts that did not answer."""
    since_iso = _since_iso(since)
    requests = ledger.select(
        """SELECT task, COUNT(*), SUM(rejected) FROM (
               SELECT task, MAX(outcome = 'bad_output') AS rejected FROM calls
               WHERE ts >= ? GROUP BY request_id, task)
           GROUP BY task""", (since_iso,))
    causes: dict[str, list[tuple[str, int]]] = {}
    for task, outcome, n in ledger.select(
            """SELECT task, outcome, COUNT(*) FROM calls WHERE ts >= ? AND outcome != 'ok'
               GROUP BY task, outcome ORDER BY 3 DESC, 2""", (since_iso,)):
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
    groups = read_groups(ledger, since, model_keys(config))
    tasks = read_tasks(ledger, since)
    spend = ledger.spend(session, now)
    cost = sum(g.cost_usd for g in groups)
    cf = sum(g.counterfactual_usd for g in groups)
    totals = Totals(cost_usd=cost, counterfactual_usd=cf, saved_usd=cf - cost,
                    today_usd=spend.today_usd, month_usd=spend.month_usd,
                    session_usd=spend.session_usd if session is not None else None,
                    saved_all_usd=spend.saved_usd, calls=sum(g.calls for g in groups),
                    requests=sum(t.requests for t in tasks))
    budgets = config.budgets if config is not None else None
    return Summary(by=by, since=since, tiers=tier_order(config, (g.tier for g in groups)),
                   groups=tuple(groups), tasks=tuple(tasks), totals=totals,
                   daily_budget_usd=budgets.daily_usd if budgets else None,
                   monthly_budget_usd=budgets.monthly_usd if budgets else None,
                   today=(now or datetime.now()).astimezone().date())


def report_json(summary: Summary, by: str) -> dict:
    """`routerls report --json`: full precision, the same sums the table and dashboard show."""
    t = summary.totals
    return {
        "by": by, "since": summary.since.isoformat() if summary.since else None,
        "rows": [_row_json(r) for r in summary.rows(by)],
        "total_usd": t.cost_usd, "counterfactual_usd": t.counterfactual_usd, "saved_usd": t.saved_usd,
        "today_usd": t.today_usd, "month_usd": t.month_usd, "saved_all_usd": t.saved_all_usd,
        "calls": t.calls, "requests": t.requests,
        "tiers": {tier: {"answered": summary.answered_per_tier().get(tier, 0),
                         "cost_usd": sum(g.cost_usd for g in summary.groups if g.tier == tier),
                         "saved_usd": sum(g.counterfactual_usd - g.cost_usd
                                          for g in summary.groups if g.tier == tier)}
                  for tier in summary.tiers},
        "tasks": [{"task": s.task, "requests": s.requests, "escalated": s.escalated,
                   "escalation_rate": s.escalation_rate, "causes": dict(s.causes)}
                  for s in summary.tasks],
        "budget": {"daily_usd": summary.daily_budget_usd, "monthly_usd": summary.monthly_budget_usd},
    }


def _row_json(r: ReportRow) -> dict:
    return {"key": str(r.key), "calls": r.calls, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "cost_usd": r.cost_usd,
            "counterfactual_usd": r.counterfactual_usd, "saved_usd": r.saved_usd}
