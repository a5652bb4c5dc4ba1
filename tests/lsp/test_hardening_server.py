"""Untrusted input through a real `routerls serve`: URIs the editor never opened (`/dev/zero`, a
3 MB file, a FIFO, a file outside the workspace), ranges past the end or reversed, and a
repository whose `tests` folder or test file is a symlink leading out of the workspace."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import pytest_asyncio
from server_session import Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
FIXED = "```python\ndef second():\n    return 22\n```"
TESTS = "```python\nfrom app import second\n\n\ndef test_second():\n    assert second() == 2\n```"
WHOLE = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("harden"))
    yield s
    await s.stop()


async def _warmed(session: Session) -> None:
    """Wait for the gateway warm-up (litellm loaded), so memory measured after it is ours."""
    for _ in range(240):
        if any("model gateway" in m.message for m in session.client.log_messages):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the gateway never warmed up")


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_unopened_uris_must_be_small_regular_files_of_the_workspace(session: Session, tmp_path):
    big = session.root / "big.py"
    big.write_bytes(b"x = 1\n" * (3 * 1024 * 1024 // 6 + 1))
    fifo = session.root / "pipe.py"
    os.mkfifo(fifo)
    outside = tmp_path / "elsewhere.py"
    outside.write_text(SOURCE)
    link = session.root / "link.py"
    link.symlink_to(outside)
    cases = {
        "file:///dev/zero": "outside the workspace",
        big.as_uri(): "over the 2097152-byte limit (limits.max_file_bytes)",
        fifo.as_uri(): "not a regular file",
        outside.as_uri(): "outside the workspace",
        link.as_uri(): "outside the workspace",
        "untitled:Untitled-1": "open the document first",
    }
    await _warmed(session)
    before = _peak_rss_mb(session.client._server.pid)
    for uri, expected in cases.items():
        result = await session.run({"action": "explain", "uri": uri, "version": None, "range": WHOLE})
        assert result["state"] == "error" and expected in result["message"], (uri, result)
    assert not session.models.requests  # nothing was sent anywhere
    # litellm and the tokenizers of the config's models (cl100k 40 MB, gpt-4o's o200k 70 MB, read
    # at start-up) bring the server to ~330 MB; the refused reads add nothing to the peak (the
    # unbounded read of /dev/zero grew it to 22 GB before the kernel killed it)
    peak = _peak_rss_mb(session.client._server.pid)
    assert peak - before < 20 and peak < 400, (before, peak)


async def test_an_unopened_file_of_the_workspace_within_the_limit_still_runs(session: Session):
    (session.root / "small.py").write_text(SOURCE)
    session.models.reset()
    session.models.default("`second` returns 2.")
    result = await session.run({"action": "explain", "uri": session.uri("small.py"), "version": None,
                                "range": WHOLE})
    assert result["state"] == "done" and result["markdown"] == "`second` returns 2."


async def test_a_range_past_the_end_is_refused_and_nothing_is_called(session: Session):
    uri = session.open("past.py", SOURCE)
    session.models.reset()
    for action in ("format", "refactor"):
        result = await session.run({"action": action, "uri": uri, "version": 1, "range": {
            "start": {"line": 40, "character": 0}, "end": {"line": 45, "character": 3}}})
        assert result["state"] == "error"
        assert "the range starts at line 41" in result["message"] and "has 7 line(s)" in result["message"]
    assert not session.models.requests and session.text(uri) == SOURCE


async def test_a_range_whose_end_is_past_the_end_is_clamped(session: Session):
    uri = session.open("clamped.py", SOURCE)
    session.models.reset()
    session.models.default(FIXED)
    result = await session.run({"action": "refactor", "uri": uri, "version": 1, "range": {
        "start": {"line": 4, "character": 0}, "end": {"line": 99, "character": 99}}})
    assert result["state"] == "done", result
    assert session.text(uri) == SOURCE.replace("return 2\n", "return 22\n")


async def test_a_reversed_range_is_normalised(session: Session):
    uri = session.open("reversed.py", SOURCE)
    session.models.reset()
    session.models.default(FIXED)
    result = await session.run({"action": "refactor", "uri": uri, "version": 1, "range": {
        "start": {"line": 6, "character": 0}, "end": {"line": 4, "character": 0}}})
    assert result["state"] == "done", result
    assert session.text(uri) == SOURCE.replace("return 2\n", "return 22\n")
    sent = session.models.requests[-1].last_user
    assert "def second():" in sent


async def test_a_range_of_the_wrong_types_is_a_clear_error(session: Session):
    uri = session.open("typed.py", SOURCE)
    result = await session.run({"action": "refactor", "uri": uri, "version": 1,
                                "range": {"start": {"line": "4", "character": 0}, "end": 7}})
    assert result["state"] == "error" and "`range` must be" in result["message"]


async def test_tests_folder_symlinked_out_of_the_workspace_is_refused(session: Session, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pkg = session.root / "pkg1"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text("")
    (pkg / "tests").symlink_to(elsewhere)
    uri = session.open("pkg1/app.py", SOURCE)
    session.models.reset()
    session.models.default(TESTS)
    result = await session.run({"action": "tests", "uri": uri, "version": 1, "range": WHOLE})
    assert result["state"] == "error" and "outside the workspace" in result["message"], result
    assert not session.models.requests  # refused before any model was paid
    assert list(elsewhere.iterdir()) == [] and not session.created


async def test_dangling_test_file_symlink_is_refused(session: Session, tmp_path):
    pkg = session.root / "pkg2"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text("")
    (pkg / "tests" / "test_app.py").symlink_to(tmp_path / "outside_test.py")
    uri = session.open("pkg2/app.py", SOURCE)
    session.models.reset()
    session.models.default(TESTS)
    result = await session.run({"action": "tests", "uri": uri, "version": 1, "range": WHOLE})
    assert result["state"] == "error" and "dangling symlink" in result["message"], result
    assert not (tmp_path / "outside_test.py").exists() and not session.created


async def test_a_tests_folder_inside_the_workspace_still_gets_its_file(session: Session):
    pkg = session.root / "pkg3"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text("")
    uri = session.open("pkg3/app.py", SOURCE)
    session.models.reset()
    session.models.default(TESTS)
    result = await session.run({"action": "tests", "uri": uri, "version": 1, "range": WHOLE})
    assert result["state"] == "done", result.get("message")
    assert list(session.created) == [(pkg / "tests" / "test_app.py").resolve().as_uri()]
