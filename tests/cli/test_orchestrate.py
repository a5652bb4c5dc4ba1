"""Multi-file work: the strongest tier plans small steps, cheaper tiers do them, and the plan
and each step's cost are shown."""

from __future__ import annotations

import json

from conftest import ledger_rows
from modelserver import Reply

from routerls.cli import main
from routerls.orchestrate import OrchestrateError, parse_plan

GEOMETRY = "def area(w, h):\n    return w * h\n"
USES = "from geometry import area\n\nprint(area(2, 3))\n"


def test_frontier_plans_and_cheap_executes_each_step(project, model_server, capsys):
    (project / "geometry.py").write_text(GEOMETRY)
    (project / "uses.py").write_text(USES)
    plan = [
        {"file": "geometry.py", "action": "refactor", "lines": [1, 2], "tier": "cheap",
         "instruction": "rename area to rect_area"},
        {"file": "uses.py", "action": "refactor", "lines": [1, 3], "tier": "cheap",
         "instruction": "use rect_area"},
    ]
    model_server.script(Reply(f"```json\n{json.dumps(plan)}\n```", prompt_tokens=900, completion_tokens=120),
                        model="gpt-4.1")
    model_server.script(Reply("```python\ndef rect_area(w, h):\n    return w * h\n```", prompt_tokens=200,
                              completion_tokens=20),
                        Reply("```python\nfrom geometry import rect_area\n\nprint(rect_area(2, 3))\n```",
                              prompt_tokens=210, completion_tokens=22), model="gpt-4o-mini")
    assert main(["orchestrate", "rename area to rect_area everywhere", "geometry.py", "uses.py", "--write"]) == 0
    assert (project / "geometry.py").read_text() == "def rect_area(w, h):\n    return w * h\n"
    assert (project / "uses.py").read_text() == "from geometry import rect_area\n\nprint(rect_area(2, 3))\n"
    out = capsys.readouterr().out
    assert "plan by gpt-4.1 (frontier)" in out and "2 of 2 steps done" in out
    # the planner saw an outline of both files, not a design prompt
    planner_prompt = model_server.requests[0].last_user
    assert "geometry.py (3 lines)" in planner_prompt and "1: def area(w, h):" in planner_prompt
    rows = ledger_rows()
    assert [(r.action, r.tier, r.model) for r in rows] == [
        ("plan", "frontier", "openai/gpt-4.1"), ("refactor", "cheap", "openai/gpt-4o-mini"),
        ("refactor", "cheap", "openai/gpt-4o-mini")]
    total = sum(r.cost_usd for r in rows)
    assert f"total ${total:.4f}" in out or f"total ${total:.6f}" in out


def test_a_bad_plan_is_a_clear_error(project, model_server, capsys):
    (project / "geometry.py").write_text(GEOMETRY)
    model_server.script("I would start by renaming things.", model="gpt-4.1")
    assert main(["orchestrate", "rename", "geometry.py"]) == 1
    assert "the planner did not answer with a JSON list of steps" in capsys.readouterr().out
    assert (project / "geometry.py").read_text() == GEOMETRY


def test_parse_plan_refuses_unknown_files_and_actions():
    files = ["/w/a.py"]
    assert parse_plan('[{"file": "a.py", "action": "fix", "lines": [2, 4]}]', files, ["cheap"])[0].first == 2
    for bad, says in [('[{"file": "b.py", "action": "fix"}]', "not given"),
                      ('[{"file": "a.py", "action": "explode"}]', "unknown action"),
                      ('[]', "no steps"), ("[{oops}]", "not valid JSON")]:
        try:
            parse_plan(bad, files, ["cheap"])
        except OrchestrateError as exc:
            assert says in str(exc)
        else:
            raise AssertionError(bad)
