"""What the user keeps, as a success estimate per (task class, tier) — the input of learned routing.

Each applied edit ends as one outcome (`outcomes.py` observes them in the editor; the CLI records
its `--write` runs): *kept* is a success; *undone*, *reworked*, *rerun* and *rejected* (an answer
that failed its checks, so the request escalated) are failures. The estimate of a cell is the
mean of a Beta posterior whose prior is `routerls eval`'s measured map (its success rate, weighted
by its number of cases up to `PRIOR_MAX_WEIGHT`), or a weak uniform Beta(1, 1) without one.

Pure apart from `load_prior`, which reads the map `routerls eval` leaves in the data dir.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

OUTCOMES = ("kept", "undone", "reworked", "rerun", "rejected")
SUCCESS = "kept"
PRIOR_MAX_WEIGHT = 20.0  # an eval cell counts as at most this many observations
EVAL_MAP = "eval-map.json"
UPPER_SD = 1.5
Prior = tuple[float, float, int, int]  # Beta a, b; the eval cases behind it and how many passed
UNIFORM: Prior = (1.0, 1.0, 0, 0)


@attrs.frozen
class Estimate:
    """Beta(a + kept, b + failed) of one (task class, tier) in one workspace. `mean`, `upper`
    and `evidence` are worked out once here: the router reads them on every decision."""

    kept: int = 0
    seen: int = 0  # outcomes observed here
    prior_a: float = 1.0
    prior_b: float = 1.0
    prior_cases: int = 0  # eval cases behind the prior (0: the uniform prior)
    prior_passed: int = 0
    pending: int = 0  # applied edits whose outcome is not known yet: not in the posterior
    mean: float = attrs.field(init=False)
    # mean plus UPPER_SD standard deviations: a tier is only judged below the target when even
    # this is (~93 % sure), so a few unlucky outcomes do not push a task class up
    upper: float = attrs.field(init=False)
    # observations, the prior's pseudo-observations included (the uniform prior adds 0)
    evidence: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        a, b = self.prior_a + self.kept, self.prior_b + self.seen - self.kept
        n = a + b
        object.__setattr__(self, "mean", a / n)
        object.__setattr__(self, "upper", a / n + UPPER_SD * math.sqrt(a * b / (n * n * (n + 1))))
        object.__setattr__(self, "evidence", self.seen + (self.prior_a + self.prior_b if self.prior_cases else 0.0))

    def says(self, tier: str, task: str) -> str:
        """`cheap kept 19 of 20 docstring edits here` (+ what eval measured, when it counts)."""
        parts = []
        if self.seen:
            parts.append(f"{tier} kept {self.kept} of {self.seen} {task} edits here")
        if self.prior_cases:
            parts.append(f"{'' if self.seen else tier + ' '}passed {self.prior_passed} of "
                         f"{self.prior_cases} in eval")
        return ", ".join(parts) or f"{tier} untried for {task}"


@attrs.frozen
class Estimates:
    """The estimates of one workspace: what `router.route(learned=...)` reads."""

    cells: dict[tuple[str, str], Estimate] = attrs.field(factory=dict)
    target: float = 0.9
    min_evidence: float = 10.0
    probe_every: int = 10  # 1 in N requests tries an untried cheaper tier (0: never)
    prior: Mapping[tuple[str, str], Prior] = attrs.field(factory=dict)
    # the router's answer per (tier order, task, tier, floor): the same inputs, the same move
    moves: dict = attrs.field(factory=dict, eq=False, repr=False)

    def get(self, task: str, tier: str) -> Estimate:
        found = self.cells.get((task, tier))
        if found is None:  # kept for the next decision: the same answer, without the work
            found = self.cells[task, tier] = Estimate(0, 0, *self.prior.get((task, tier), UNIFORM))
        return found


def workspace_key(root: str | Path) -> str:
    """One spelling per workspace folder, whichever path (symlinked, relative) names it."""
    return str(Path(root).resolve())


def prior_from_eval(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Prior]:
    """(task, tier) → (a, b, cases, passed) from `routerls eval --json` rows: the measured success
    rate as the prior's mean, worth min(cases, PRIOR_MAX_WEIGHT) observations."""
    out: dict[tuple[str, str], Prior] = {}
    for row in rows:
        try:
            task, tier, cases, passed = str(row["task"]), str(row["tier"]), int(row["cases"]), int(row["passed"])
        except (KeyError, TypeError, ValueError):
            continue
        if cases <= 0 or not 0 <= passed <= cases:
            continue
        weight = min(float(cases), PRIOR_MAX_WEIGHT)
        share = passed / cases
        # never a certainty: one pseudo-failure/success keeps a perfect eval revisable
        out[(task, tier)] = (max(share * weight, 0.5), max((1 - share) * weight, 0.5), cases, passed)
    return out


def load_prior(folder: Path) -> dict[tuple[str, str], Prior]:
    """The map the last `routerls eval` left in the data dir; empty when there is none or it
    cannot be read (a broken file must not stop routing)."""
    try:
        data = json.loads((folder / EVAL_MAP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rows = data.get("rows") if isinstance(data, dict) else None
    return prior_from_eval(r for r in rows if isinstance(r, dict)) if isinstance(rows, list) else {}


def estimates(counts: Mapping[tuple[str, str], tuple[int, ...]],
              prior: Mapping[tuple[str, str], Prior] | None = None, *,
              target: float = 0.9, min_evidence: float = 10.0, probe_every: int = 10) -> Estimates:
    """Posteriors from (task, tier) → (kept, seen[, pending]) counts and the prior."""
    prior = dict(prior or {})
    cells = {}
    for key in {*counts, *prior}:
        kept, seen, *pending = counts.get(key, (0, 0))
        cells[key] = Estimate(kept, seen, *prior.get(key, UNIFORM), pending=sum(pending))
    return Estimates(cells, target, min_evidence, probe_every, prior)


@attrs.frozen
class KeptRow:
    """`routerls report`: what happened to the applied edits of one task class on one tier."""

    task: str
    tier: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def kept_rate(self) -> float:
        return self.counts.get(SUCCESS, 0) / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "tier": self.tier, "total": self.total,
                "kept_rate": round(self.kept_rate, 4), **{o: self.counts.get(o, 0) for o in OUTCOMES}}


def kept_rows(raw: Iterable[tuple[str, str, str, int]], tier_order: Iterable[str] = ()) -> list[KeptRow]:
    """Rows from (task, tier, outcome, count) tuples, by task, then tier cheapest first."""
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for task, tier, outcome, n in raw:
        cell = grouped.setdefault((task, tier), {})
        cell[outcome] = cell.get(outcome, 0) + int(n)
    rank = {t: i for i, t in enumerate(tier_order)}
    return [KeptRow(task, tier, counts) for (task, tier), counts in
            sorted(grouped.items(), key=lambda kv: (kv[0][0], rank.get(kv[0][1], len(rank)), kv[0][1]))]


def kept_markdown(rows: Iterable[KeptRow]) -> str:
    """The kept table for the editor's spend report (empty when nothing was applied yet)."""
    rows = list(rows)
    if not rows:
        return ""
    lines = ["## Applied edits: what was kept", "",
             "| task | tier | " + " | ".join(OUTCOMES) + " | kept % |",
             "|---|---|" + "---:|" * (len(OUTCOMES) + 1)]
    lines += [f"| {r.task} | {r.tier} | " + " | ".join(str(r.counts.get(o, 0)) for o in OUTCOMES)
              + f" | {r.kept_rate:.0%} |" for r in rows]
    return "\n".join(lines) + "\n"
