"""Checks through the language server: the project's tests reject a wrong fix and the next
tier's answer is applied, the status says what ran, and codeAction keeps answering in
milliseconds while a slow test suite runs."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import Reply, Session, start_session

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]  # each runs a test suite as a check

LAST = "def last(items):\n    return items[len(items)]\n"
WHOLE = T.Range(T.Position(0, 0), T.Position(2, 0))


def fenced(code: str) -> str:
    return f"```python\n{code}```"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("checks"))
    (s.root / "tests").mkdir()
    yield s
    await s.stop()


def _args(uri: str, action: str, version: int = 1) -> dict:
    return {"action": action, "uri": uri, "version": version,
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}}


async def test_a_fix_that_fails_the_modules_test_is_rejected_and_the_next_tier_applied(session: Session):
    session.models.reset()
    (session.root / "stats.py").write_text(LAST)
    (session.root / "tests" / "test_stats.py").write_text(
        "from stats import last\n\n\ndef test_last():\n    assert last([1, 2, 3]) == 3\n")
    uri = session.open("stats.py", LAST)
    session.models.script(fenced("def last(items):\n    return items[len(items) - 2]\n"), model="gpt-4o")
    session.models.script(fenced("def last(items):\n    return items[-1]\n"), model="gpt-4-turbo")
    result = await session.run(_args(uri, "fix"))
    assert result["state"] == "done"
    assert session.text(uri) == "def last(items):\n    return items[-1]\n"
    status = await session.wait_status("done")
    assert "gpt-4o's answer was rejected (tests/test_stats.py::test_last still fails after the fix " \
           "(assert 2 == 3)); escalated to frontier" in status["reason"]
    assert "checked: ruff: no new findings · 1 test passed in " in status["reason"]
    rows = session.ledger_rows()[-2:]
    assert [(r["tier"], r["outcome"]) for r in rows] == [("mid", "bad_output"), ("frontier", "ok")]
    assert rows[1]["checks"].startswith("ruff: no new findings · 1 test passed in ")
    assert (session.root / "stats.py").read_text() == LAST  # the server edits the buffer, not the file


@pytest.mark.timing
async def test_code_actions_stay_fast_while_a_slow_suite_runs(session: Session):
    session.models.reset()
    slow = "def double(x):\n    return x * 2\n"
    (session.root / "slow.py").write_text(slow)
    (session.root / "tests" / "test_slow.py").write_text(
        "import time\n\nfrom slow import double\n\n\ndef test_double():\n    time.sleep(2)\n"
        "    assert double(2) == 4\n")
    uri = session.open("slow.py", slow)
    await session.until_warm()
    idle = await _code_action_times(session, uri, 200)
    session.models.script(Reply(fenced("def double(x):\n    return x + x\n")), model="gpt-4o")
    run = asyncio.create_task(session.run(_args(uri, "refactor")))
    await session.until_streaming("gpt-4o")
    await asyncio.sleep(0.5)  # the answer is in; the suite's before-run is sleeping
    busy = await _code_action_times(session, uri, 400, until=run)
    assert len(busy) >= 20, f"only {len(busy)} code actions while the suite ran"
    p99, idle_p99 = _p99(busy), _p99(idle)
    # a loop blocked by the checks would hold a request for the whole 2 s sleep of the suite
    assert max(busy) < 1000
    # 5 ms p99 where the machine allows it (idle p99 under 2.5 ms); on a loaded machine, where
    # scheduling alone costs more, no worse than idle by more than half plus 5 ms
    bound = 5.0 if idle_p99 < 2.5 else idle_p99 * 1.5 + 5.0
    assert p99 < bound, f"codeAction p99 {p99:.2f} ms while tests ran (idle p99 {idle_p99:.2f} ms)"
    result = await run
    assert result["state"] == "done" and session.text(uri) == "def double(x):\n    return x + x\n"


async def _code_action_times(session: Session, uri: str, n: int, until: asyncio.Task | None = None) -> list[float]:
    """Round trips as the client sees them, with this (client) process's garbage collector held
    off: late in a full run its heap is large, and a collection inside a sample is the client's
    pause, not the server's (the CI run that showed it: idle p99 175 ms)."""
    times: list[float] = []
    gc.disable()
    try:
        while len(times) < n and not (until is not None and until.done()):
            started = time.perf_counter()
            assert await session.code_actions(uri, WHOLE)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
    finally:
        gc.enable()
    return times


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98]
