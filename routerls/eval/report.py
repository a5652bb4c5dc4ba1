"""What an evaluation found: outcomes per case and tier, summed per task class and tier, the
cheapest tier per task class that meets the target (the routing map), and the ways it leaves:
a table, JSON, the map in the data dir, and `tasks:` merged into a config file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from routerls.eval.cases import EvalError
from routerls.money import money


@attrs.frozen
class Outcome:
    """One case on one tier."""

    case: str
    task: str
    tier: str
    passed: bool
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    reason: str = ""
    applied: bool = False  # the engine said ok and its edit was taken

    @property
    def wrong(self) -> bool:
        """A wrong edit applied: the engine let through a result that fails the case's check."""
        return self.applied and not self.passed


@attrs.frozen
class Cell:
    """The outcomes of one task class on one tier."""

    task: str
    tier: str
    cases: int
    passed: int
    cost_usd: float
    latency_ms: float  # mean per case
    wrong: int = 0  # wrong edits applied

    @property
    def success(self) -> float:
        return self.passed / self.cases if self.cases else 0.0


@attrs.frozen
class Report:
    tiers: tuple[str, ...]  # evaluated, cheapest first
    skipped: dict[str, str]  # tier → why it could not run here
    cells: tuple[Cell, ...]
    outcomes: tuple[Outcome, ...]
    target: float
    routing: dict[str, str | None]  # task class → cheapest tier meeting the target (None: none)
    models: dict[str, tuple[str, ...]]  # tier → the models it tried

    def cell(self, task: str, tier: str) -> Cell | None:
        return next((c for c in self.cells if c.task == task and c.tier == tier), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "tiers": list(self.tiers), "skipped": self.skipped,
            "models": {t: list(m) for t, m in self.models.items()},
            "rows": [{"task": c.task, "tier": c.tier, "cases": c.cases, "passed": c.passed,
                      "success": round(c.success, 4), "cost_usd": round(c.cost_usd, 10),
                      "cost_per_case_usd": round(c.cost_usd / c.cases, 10) if c.cases else 0.0,
                      "latency_ms": round(c.latency_ms, 1), "wrong_applied": c.wrong}
                     for c in self.cells],
            "wrong_applied": {t: sum(c.wrong for c in self.cells if c.tier == t) for t in self.tiers}
            | {"total": sum(c.wrong for c in self.cells)},
            "routing": self.routing,
            "failures": [{"case": o.case, "tier": o.tier, "model": o.model, "reason": o.reason,
                          "applied": o.applied} for o in self.outcomes if not o.passed],
        }


def summarize(outcomes: Sequence[Outcome], tasks: Iterable[str], tiers: Sequence[str]) -> list[Cell]:
    cells = []
    for task in dict.fromkeys(tasks):
        for tier in tiers:
            mine = [o for o in outcomes if o.task == task and o.tier == tier]
            if mine:
                cells.append(Cell(task, tier, len(mine), sum(o.passed for o in mine),
                                  sum(o.cost_usd for o in mine),
                                  statistics.fmean(o.latency_ms for o in mine),
                                  sum(o.wrong for o in mine)))
    return cells


def cheapest(cells: Sequence[Cell], tiers: Sequence[str], target: float) -> dict[str, str | None]:
    """Per task class, the first tier (cheapest first) whose success rate meets `target`."""
    out: dict[str, str | None] = {}
    for task in dict.fromkeys(c.task for c in cells):
        out[task] = next((t for t in tiers for c in cells
                          if c.task == task and c.tier == t and c.success >= target - 1e-9), None)
    return out


# --- writing the routing map ---------------------------------------------------------------------

def write_tasks(path: Path, routing: Mapping[str, str | None], known_tasks: Iterable[str]) -> dict[str, str]:
    """Merge the routing map into the `tasks:` mapping of the YAML file at `path` (created when
    missing). Only task classes routerls has (`known_tasks`) with a tier that meets the target
    are written; every other line of the file is kept as it was, comments included."""
    known = set(known_tasks)
    new = {t: tier for t, tier in routing.items() if tier is not None and t in known}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise EvalError(f"{path}: not valid YAML ({exc}); nothing written") from None
    if not isinstance(data, dict):
        raise EvalError(f"{path}: the top level must be a mapping; nothing written")
    old = data.get("tasks") or {}
    if not isinstance(old, dict):
        raise EvalError(f"{path}: `tasks` must be a mapping; nothing written")
    merged = {**old, **new}
    line = "tasks: " + yaml.safe_dump(merged, default_flow_style=True, sort_keys=False).strip()
    line += "  # cheapest tiers that met the target in `routerls eval`\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, s in enumerate(lines) if s.startswith("tasks:")), None)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(line)
    else:
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1  # keep the blank lines before the next setting
        lines[start:end] = [line]
    path.write_text("".join(lines), encoding="utf-8")
    return new


def render(report: Report, console) -> None:
    from rich.table import Table

    table = Table(title=f"routerls eval: success, cost and latency per task class and tier "
                        f"(target {report.target:.0%})")
    for col in ("task", "tier", "cases", "passed", "success", "wrong edits applied", "cost",
                "cost/case", "latency"):
        table.add_column(col, justify="left" if col in ("task", "tier") else "right")
    for c in report.cells:
        table.add_row(c.task, c.tier, str(c.cases), str(c.passed), f"{c.success:.0%}", str(c.wrong),
                      money(c.cost_usd), money(c.cost_usd / c.cases if c.cases else 0.0),
                      f"{c.latency_ms:.0f} ms")
    console.print(table)
    wrong = report.to_json()["wrong_applied"]
    console.print("[bold]wrong edits applied[/]: " + ", ".join(f"{t} {n}" for t, n in wrong.items()),
                  highlight=False)
    for tier, why in report.skipped.items():
        console.print(f"[yellow]{tier} not evaluated[/]: {why}")
    console.print(f"[bold]cheapest tier meeting {report.target:.0%}[/]:")
    for task, tier in report.routing.items():
        if tier is not None:
            console.print(f"  {task}: {tier}")
        else:
            best = max((c for c in report.cells if c.task == task), key=lambda c: c.success)
            console.print(f"  {task}: none (best: {best.tier} at {best.success:.0%})")


def save_map(report: Report) -> None:
    """Leave the measured map in the data dir: learned routing (`route.learn`) starts from it."""
    from routerls.learning import EVAL_MAP
    from routerls.ledger import default_path

    if not report.cells:
        return
    try:
        folder = default_path().parent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / EVAL_MAP).write_text(json.dumps(report.to_json()), encoding="utf-8")
    except OSError:
        pass  # the map is a head start, not a requirement
