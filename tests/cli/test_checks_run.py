"""`routerls run` end to end on the scripted model server, with checks that run the code: a wrong
answer the static checks cannot see is rejected and the next tier's right answer is applied, and
a rejected answer leaves the user's tree byte-identical."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import ledger_rows

from routerls.cli import main

LAST = "def last(items):\n    return items[len(items)]\n"
LAST_TESTS = "from stats import last\n\n\ndef test_last():\n    assert last([1, 2, 3]) == 3\n"


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def add_config(project: Path, text: str) -> None:
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text() + text)


@pytest.fixture(autouse=True)
def patient(project):
    """The first litellm call of a process can take seconds on a loaded machine; these tests
    are about checks, not timeouts."""
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace("timeout_s: 1}", "timeout_s: 60}").replace("timeout_s: 5,", "timeout_s: 60,"))


@pytest.fixture
def stats(project):
    (project / "tests").mkdir()
    (project / "stats.py").write_text(LAST)
    (project / "tests" / "test_stats.py").write_text(LAST_TESTS)
    return project


def test_an_undefined_name_is_rejected_and_the_next_tier_applied(project, model_server, capsys):
    (project / "middle.py").write_text("def middle(xs)\n    return xs[len(xs) // 2]\n")
    model_server.script(fenced("def middle(xs):\n    m = len(xs) // 2\n    return xs[mid]\n"), model="gpt-4o-mini")
    model_server.script(fenced("def middle(xs):\n    mid = len(xs) // 2\n    return xs[mid]\n"), model="gpt-4o")
    assert main(["run", "fix", "middle.py", "--write"]) == 0
    assert (project / "middle.py").read_text() == "def middle(xs):\n    mid = len(xs) // 2\n    return xs[mid]\n"
    out = capsys.readouterr().out
    assert "gpt-4o-mini's answer was rejected (it introduces F841 Local variable `m` is assigned to but " \
           "never used; F821 Undefined name `mid`); escalated to mid" in out
    rows = ledger_rows()
    assert [(r.tier, r.outcome) for r in rows] == [("cheap", "bad_output"), ("mid", "ok")]
    assert rows[0].checks == "ruff: 2 new findings"
    assert rows[1].checks == "ruff: no new findings · no tests found for middle.py"


def test_a_fix_that_parses_but_fails_the_modules_test_is_rejected(stats, model_server, capsys):
    model_server.script(fenced("def last(items):\n    return items[len(items) - 2]\n"), model="gpt-4o-mini")
    model_server.script(fenced("def last(items):\n    return items[-1]\n"), model="gpt-4o")
    assert main(["run", "fix", "stats.py", "--write", "--instruction", "IndexError in last()"]) == 0
    assert (stats / "stats.py").read_text() == "def last(items):\n    return items[-1]\n"
    out = capsys.readouterr().out
    assert "(tests/test_stats.py::test_last still fails after the fix (assert 2 == 3)); escalated to mid" in out
    assert "checked: ruff: no new findings · 1 test passed in " in out
    rows = ledger_rows()
    assert rows[0].outcome == "bad_output" and rows[0].checks.startswith("ruff: no new findings · 0 of 1 tests")
    assert rows[1].outcome == "ok" and rows[1].checks.startswith("ruff: no new findings · 1 test passed in ")
    assert not list(stats.rglob("__pycache__"))


def test_a_generated_test_file_with_no_tests_is_never_written(stats, model_server, capsys):
    (stats / "stats.py").write_text("def last(items):\n    return items[-1]\n")
    before = tree(stats)
    empty = fenced("from stats import last\n\n\ndef check_last():\n    assert last([1]) == 1\n")
    model_server.script(empty, model="gpt-4o")
    model_server.script(empty, model="gpt-4.1")
    assert main(["run", "tests", "stats.py", "--write"]) == 1
    assert "pytest would collect no test from the generated file (no test_ functions)" in capsys.readouterr().out
    assert tree(stats) == before
    # the stronger tier's file runs and passes: that one is written
    good = "from stats import last\n\n\ndef test_last():\n    assert last([1, 2]) == 2\n"
    model_server.script(empty, model="gpt-4o")
    model_server.script(fenced(good), model="gpt-4.1")
    assert main(["run", "tests", "stats.py", "--write"]) == 0
    assert "checked: 1 generated test passed in " in capsys.readouterr().out
    assert (stats / "tests" / "test_stats_ai.py").read_text() == good


def test_an_answer_identical_to_the_selection_is_rejected(stats, model_server, capsys):
    same = "def last(items):\n    return items[len(items)]\n"
    model_server.script(fenced(same), model="gpt-4o")
    model_server.script(fenced("def last(items):\n    return items[-1]\n"), model="gpt-4.1")
    assert main(["run", "refactor", "stats.py", "--write"]) == 0
    assert "gpt-4o's answer was rejected (the answer changes nothing); escalated to frontier" in capsys.readouterr().out
    assert (stats / "stats.py").read_text() == "def last(items):\n    return items[-1]\n"


@pytest.mark.slow
def test_a_hanging_suite_is_killed_and_the_tree_stays_byte_identical(stats, model_server, capsys):
    (stats / "stats.py").write_text("def last(items):\n    return items[-1]\n")
    add_config(stats, "checks: {timeout_s: 6}\nescalate: {max_steps: 0}\n")
    before = tree(stats)
    model_server.script(fenced("def last(items):\n    while True:\n        pass\n"), model="gpt-4o")
    started = time.monotonic()
    assert main(["run", "refactor", "stats.py", "--write"]) == 1
    assert time.monotonic() - started < 30
    out = capsys.readouterr().out
    assert "gpt-4o's answer was rejected (the tests ran past 6 s with the change and were stopped " \
           "(checks.timeout_s)); not applied" in out
    assert tree(stats) == before  # no stray file, no __pycache__, no .pytest_cache


def test_checks_tests_off_skips_the_tests(stats, model_server, capsys):
    add_config(stats, "checks: {tests: 'off'}\n")
    model_server.script(fenced("def last(items):\n    return items[len(items) - 2]\n"), model="gpt-4o-mini")
    assert main(["run", "fix", "stats.py", "--instruction", "IndexError"]) == 0
    out = capsys.readouterr().out
    assert "checked: ruff: no new findings ·" in out and "passed in" not in out and "no tests" not in out


def test_a_bad_checks_setting_is_located(stats, capsys):
    add_config(stats, "checks: {tests: sometimes}\n")
    assert main(["run", "fix", "stats.py"]) == 2
    err = capsys.readouterr().err
    assert "routerls.yaml:" in err and "checks.tests: unknown value 'sometimes'; allowed: auto, off" in err


def test_an_escalated_run_reserves_budget_for_the_stronger_attempt_before_it_is_made(project, model_server):
    import asyncio

    from modelserver import Reply

    from routerls.cli import make_parser
    from routerls.commands.request import build_request
    from routerls.engine import Engine
    from routerls.layers import load_config

    (project / "middle.py").write_text("def middle(xs)\n    return xs[len(xs) // 2]\n")
    model_server.script(fenced("def middle(xs):\n    return xs[mid]\n"), model="gpt-4o-mini")
    model_server.script(Reply(fenced("def middle(xs):\n    return xs[len(xs) // 2]\n"), chunks=10,
                              chunk_delay=0.2), model="gpt-4o")
    config = load_config(project)
    engine = Engine(config)
    req = build_request(make_parser().parse_args(["run", "fix", "middle.py"]), project, config)

    async def watch():
        task = asyncio.create_task(engine.run(req))
        while not model_server.requests_for("gpt-4o"):
            await asyncio.sleep(0.02)
        held = dict(engine.reserved)
        spend = engine.spend().today_usd
        result = await task
        return held, spend, result

    held, spend, result = asyncio.run(watch())
    assert result.outcome == "ok" and result.tier == "mid"
    first, second = sorted(held, key=len)
    assert second == f"{first}+1"  # the escalation's own hold, beside the request's
    assert held[second] > held[first] > 0  # mid is dearer than cheap
    assert spend == sum(held.values())
    assert engine.reserved == {}  # both settled by the ledger rows


def test_an_escalation_the_budget_cannot_take_is_not_made(project, model_server, capsys):
    add_config(project, "budgets: {daily_usd: 0.0003, monthly_usd: 20.0, on_exceed: downgrade}\n")
    (project / "middle.py").write_text("def middle(xs)\n    return xs[len(xs) // 2]\n")
    model_server.script(fenced("def middle(xs):\n    return xs[mid]\n"), model="gpt-4o-mini")
    assert main(["run", "fix", "middle.py"]) == 1
    assert "not escalated to gpt-4o (mid): the budget cannot take it (daily budget" in capsys.readouterr().out
    assert not model_server.requests_for("gpt-4o")
