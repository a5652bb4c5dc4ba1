"""Multi-file work, orchestrated: the strongest tier plans, cheaper tiers do the steps.

A change that spans files is where a frontier model earns its price — but only for the plan.
The planner gets the instruction and an outline of each file and answers with a JSON list of
small steps (`{file, action, lines, instruction, tier?}`); each step then runs as an ordinary
request through the engine (routed, checked, escalated, recorded), on the text as the earlier
steps left it. The plan, each step's tier, model and cost, and the total are the result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence

import attrs

from routerls import edits as edits_mod
from routerls.engine import Engine, RunResult
from routerls.request import RunRequest
from routerls.text import Range, split_lines

PLAN_PROMPT = """\
You plan a code change that spans files. Split it into small, independent steps that a cheaper
model can do one at a time. Answer with only a JSON list, one object per step:
{{"file": "<one of the files below>", "action": "<one of: {actions}>",
  "lines": [<first line>, <last line>], "instruction": "<what to do there, one sentence>",
  "tier": "<optional: one of {tiers}>"}}
Lines are 1-based and inclusive. Keep the list short; order it so each step can build on the
previous ones.

Change requested: {instruction}

Files:
{outlines}"""

STEP_ACTIONS = ("fix", "refactor", "docstring", "format", "tests")


class OrchestrateError(Exception):
    """The plan could not be made or read; the message is for users."""


@attrs.frozen
class Step:
    file: str
    action: str
    first: int
    last: int
    instruction: str
    tier: str | None = None


@attrs.frozen
class StepResult:
    step: Step
    result: RunResult | None
    error: str | None = None


@attrs.frozen
class Orchestration:
    planner: RunResult
    steps: tuple[StepResult, ...]
    texts: dict[str, str]  # path → text after every step that succeeded

    @property
    def cost_usd(self) -> float:
        return self.planner.cost_usd + sum(s.result.cost_usd for s in self.steps if s.result)


def outline(path: str, text: str, limit: int = 60) -> str:
    """The file's top-level lines with numbers: enough to plan, far less than the file."""
    lines = split_lines(text)
    keep = [(i, ln) for i, ln in enumerate(lines, 1)
            if ln and not ln[0].isspace() and not ln.startswith("#")] or list(enumerate(lines[:limit], 1))
    shown = "\n".join(f"{i:5}: {ln}" for i, ln in keep[:limit])
    more = f"\n  ... ({len(keep) - limit} more)" if len(keep) > limit else ""
    return f"### {path} ({len(lines)} lines)\n{shown}{more}"


def parse_plan(text: str, files: Sequence[str], tiers: Sequence[str]) -> list[Step]:
    """Read the planner's JSON (fenced or not); steps naming unknown files or actions are refused."""
    m = re.search(r"\[.*\]", text, re.DOTALL)
    if m is None:
        raise OrchestrateError("the planner did not answer with a JSON list of steps")
    try:
        raw = json.loads(m.group(0))
    except ValueError as exc:
        raise OrchestrateError(f"the planner's steps are not valid JSON ({exc})") from None
    by_name = {f: f for f in files} | {f.rsplit("/", 1)[-1]: f for f in files}
    steps = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise OrchestrateError(f"step {i} is not an object")
        file = by_name.get(str(item.get("file", "")))
        action = str(item.get("action", ""))
        lines = item.get("lines") or [1, 1]
        if file is None:
            raise OrchestrateError(f"step {i} names a file that was not given: {item.get('file')!r}")
        if action not in STEP_ACTIONS:
            raise OrchestrateError(f"step {i}: unknown action {action!r}; allowed: {', '.join(STEP_ACTIONS)}")
        try:
            first, last = int(lines[0]), int(lines[-1])
        except (TypeError, ValueError, IndexError):
            raise OrchestrateError(f"step {i}: `lines` must be [first, last]") from None
        tier = item.get("tier")
        steps.append(Step(file, action, max(first, 1), max(last, first, 1), str(item.get("instruction", "")),
                          tier if tier in tiers else None))
    if not steps:
        raise OrchestrateError("the planner returned no steps")
    return steps


async def orchestrate(engine: Engine, instruction: str, texts: Mapping[str, str], *,
                      planner_tier: str | None = None, workspace_root: str | None = None,
                      language_of: Callable[[str], str] = lambda p: "python") -> Orchestration:
    """Plan on `planner_tier` (default: the strongest), then run each step as its own request."""
    config = engine.config
    planner_tier = planner_tier or config.tier_order[-1]
    files = list(texts)
    prompt = PLAN_PROMPT.format(actions=", ".join(STEP_ACTIONS), tiers=", ".join(config.tier_order),
                                instruction=instruction,
                                outlines="\n\n".join(outline(p, texts[p]) for p in files))
    first = files[0]
    # the plan is an ordinary request (the internal `plan` action) on the planner tier, so it
    # is redacted, recorded and priced like any other
    planned = await engine.run(RunRequest(
        action="plan", path=first, text=prompt, range=Range.of(0, 0, len(split_lines(prompt)), 0),
        language_id="markdown", tier=planner_tier, instruction=None, workspace_root=workspace_root))
    if planned.outcome != "ok" or planned.edit is None or planned.edit.markdown is None:
        raise OrchestrateError(f"planning on {planner_tier} failed: {planned.message or planned.outcome}")
    steps = parse_plan(planned.edit.markdown, files, config.tier_order)
    current = dict(texts)
    done: list[StepResult] = []
    for step in steps:
        text = current[step.file]
        lines = split_lines(text)
        last = min(step.last, len(lines))
        rng = Range.of(step.first - 1, 0, last, 0) if last < len(lines) else \
            Range.of(step.first - 1, 0, last - 1, len(lines[-1]))
        result = await engine.run(RunRequest(
            action=step.action, path=step.file, text=text, range=rng, language_id=language_of(step.file),
            tier=step.tier, instruction=step.instruction or None, workspace_root=workspace_root))
        if result.outcome != "ok" or result.edit is None:
            done.append(StepResult(step, result, result.message or result.outcome))
            continue
        if result.edit.edits:
            current[step.file] = edits_mod.apply_edits(text, result.edit.edits)
        if result.edit.create is not None:
            current[result.edit.create.path] = result.edit.create.text
        done.append(StepResult(step, result))
    return Orchestration(planned, tuple(done), current)

