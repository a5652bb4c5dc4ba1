"""The fault matrix, end to end: a real `routerls serve`, an editor-like client, and a scripted
model server that misbehaves on purpose. For every fault the run has one defined outcome — a
fallback to the next model, a clear error, or a correct edit — the document is never left
half-edited, and the ledger holds one consistent set of rows per request.

`refactor` routes to mid (`gpt-4o`); the chain falls back to frontier (`gpt-4-turbo`).
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from typing import Any

import pytest
import pytest_asyncio
import server_session
from lsprotocol import types as T
from pytest_lsp import client_capabilities
from server_session import Reply, Session, start_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = """\
def first():
    return 1


def second():
    return 2
"""
FIXED = "```python\ndef second():\n    return 22\n```"
EXPECTED = SOURCE.replace("return 2\n", "return 22\n")
SECOND = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
SLOW = {"chunks": 10, "chunk_delay": 0.15}
BASE = {"gateway": {"timeout_s": 2, "retries": 1, "backoff_s": 0}}


# --- an editor that counts columns the way LSP does, independent of routerls.text -------------

def _line_starts(text: str) -> list[int]:
    starts, i = [0], 0
    while i < len(text):
        if text[i] == "\r" and text[i + 1:i + 2] == "\n":
            i += 2
            starts.append(i)
            continue
        if text[i] in "\r\n":
            starts.append(i + 1)
        i += 1
    return starts


def _column(line: str, units: int, encoding: str) -> int:
    size = (lambda ch: len(ch.encode("utf-8"))) if encoding == "utf-8" else \
        (lambda ch: 2 if ord(ch) > 0xFFFF else 1)
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += size(ch)
    return len(line)


def editor_apply(text: str, edits: list[T.TextEdit], encoding: str = "utf-16") -> str:
    starts = _line_starts(text)

    def offset(pos: T.Position) -> int:
        if pos.line >= len(starts):
            return len(text)
        end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
        line = text[starts[pos.line]:end].rstrip("\r\n")
        return starts[pos.line] + _column(line, pos.character, encoding)

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), reverse=True)
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text


@pytest.fixture(scope="module", autouse=True)
def _unicode_editor():
    """The harness's client applies edits by string index (fine for ASCII); this one counts
    UTF-16 code units, or UTF-8 bytes for a session that negotiated them."""
    original = server_session._apply_text
    server_session._apply_text = lambda text, edits: editor_apply(text, edits, _unicode_editor.encoding)
    _unicode_editor.encoding = "utf-16"
    yield
    server_session._apply_text = original


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("faults"),
                            initialization_options={"routerls": BASE, "applyEditTimeoutS": 1.5})
    yield s
    await s.stop()


def _args(uri: str, rng: dict | None = None, version: int = 1, action: str = "refactor") -> dict:
    return {"action": action, "uri": uri, "version": version, "range": rng or SECOND}


def _rows(session: Session, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in session.ledger_rows() if r["request_id"] == result["requestId"]]


def _consistent(session: Session, result: dict[str, Any], outcomes: list[str] | None = None) -> list[dict]:
    """The request's rows: numbered 0.. in order, costs adding up to what the run reported."""
    rows = _rows(session, result)
    assert rows, f"no ledger rows for {result}"
    assert [r["fallback_index"] for r in rows] == list(range(len(rows)))
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(result["costUsd"])
    if outcomes is not None:
        assert [r["outcome"] for r in rows] == outcomes
    if result["state"] == "done":
        assert rows[-1]["outcome"] == "ok" and all(r["outcome"] != "ok" for r in rows[:-1])
    return rows


async def _run_fault(session: Session, name: str, *replies: Reply, fallback: str | None = FIXED,
                     text: str = SOURCE) -> tuple[str, dict[str, Any]]:
    session.models.reset()
    session.models.script(*replies, model="gpt-4o")
    if fallback is not None:
        session.models.script(Reply(text=fallback), model="gpt-4-turbo")
    uri = session.open(name, text)
    result = await asyncio.wait_for(session.run(_args(uri)), 30)
    return uri, result


def _configure(session: Session, extra: dict | None = None) -> None:
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": {**BASE, **(extra or {})}}))


# --- the backend misbehaves --------------------------------------------------------------------

async def test_backend_refusing_connections_falls_back_to_the_next_tier(session: Session):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    _configure(session, {"tiers": {"mid": {"models": [
        {"model": "openai/gpt-4o", "api_base": f"http://127.0.0.1:{closed}/v1", "api_key_env": "ROUTERLS_TEST_KEY"}]}}})
    try:
        uri, result = await _run_fault(session, "refused.py")
    finally:
        _configure(session)
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    _consistent(session, result, ["connection_error", "connection_error", "ok"])


async def test_429_with_retry_after_waits_then_retries_the_same_model(session: Session):
    uri, result = await _run_fault(session, "rate.py", Reply(status=429, retry_after=1), Reply(text=FIXED))
    assert result["state"] == "done" and result["model"] == "gpt-4o", result
    assert session.text(uri) == EXPECTED
    first, second = session.models.requests[:2]
    assert second.time - first.time >= 0.9  # Retry-After honoured
    _consistent(session, result, ["rate_limited", "ok"])


async def test_500_retries_then_falls_back(session: Session):
    uri, result = await _run_fault(session, "five.py", Reply(status=500), Reply(status=500))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    _consistent(session, result, ["server_error", "server_error", "ok"])


async def test_slow_first_byte_past_the_timeout_falls_back(session: Session):
    started = time.monotonic()
    uri, result = await _run_fault(session, "slow.py", Reply(text=FIXED, delay_first_byte=5))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert time.monotonic() - started < 4.5  # gave up at the 2 s timeout, not after 5 s
    assert session.text(uri) == EXPECTED
    _consistent(session, result, ["timeout", "ok"])


async def test_stream_cut_mid_answer_is_never_applied(session: Session):
    cut = "```python\ndef second():\n    return 2 + 1000000\n```"
    uri, result = await _run_fault(session, "cut.py", Reply(text=cut, chunks=8, cut_after=3),
                                   Reply(text=cut, chunks=8, cut_after=3))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED  # not a prefix of the cut answer
    rows = _consistent(session, result)
    assert rows[0]["outcome"] in ("connection_error", "bad_response") and rows[0]["model"] == "openai/gpt-4o"


async def test_malformed_json_falls_back(session: Session):
    uri, result = await _run_fault(session, "malformed.py", Reply(malformed=True))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    rows = _consistent(session, result)
    assert rows[0]["outcome"] == "bad_response"


async def test_empty_answer_falls_back(session: Session):
    uri, result = await _run_fault(session, "empty.py", Reply(text=""))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    _consistent(session, result, ["bad_response", "ok"])


async def test_prose_instead_of_code_is_rejected_and_escalated(session: Session):
    uri, result = await _run_fault(session, "prose.py",
                                   Reply(text="I'm sorry, but I can't help with refactoring this code."))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    rows = _consistent(session, result, ["bad_output", "ok"])
    assert "prose" in rows[0]["error"] or "declined" in rows[0]["error"]


async def test_every_model_failing_is_a_clear_error_and_leaves_the_document(session: Session):
    session.models.reset()
    session.models.script(Reply(status=500), Reply(status=500), model="gpt-4o")
    session.models.script(Reply(status=503), Reply(status=503), model="gpt-4-turbo")
    uri = session.open("allfail.py", SOURCE)
    result = await asyncio.wait_for(session.run(_args(uri)), 30)
    assert result["state"] == "error", result
    assert "gpt-4o" in result["message"] and "server_error" in result["message"]
    assert session.text(uri) == SOURCE
    rows = _consistent(session, result)
    assert all(r["outcome"] != "ok" and r["cost_usd"] == 0 for r in rows)
    assert (await session.wait_status("error"))["message"] == result["message"]


async def test_answer_ten_times_longer_than_the_selection_is_applied_inside_the_range(session: Session):
    # every name used: an unused variable is a new finding, and that answer would be rejected
    body = "    steps = []\n" + "".join(f"    steps.append({i} * 2)\n" for i in range(14))
    long_answer = f"```python\ndef second():\n{body}    return steps[-1]\n```"
    uri, result = await _run_fault(session, "long.py", Reply(text=long_answer))
    assert result["state"] == "done" and result["model"] == "gpt-4o", result
    replacement = f"def second():\n{body}    return steps[-1]\n"
    assert len(replacement) >= 10 * len("def second():\n    return 2\n")
    assert session.text(uri) == SOURCE.replace("def second():\n    return 2\n", replacement)
    assert session.text(uri).startswith("def first():\n    return 1\n")  # nothing outside touched


# --- documents that are hard to count -----------------------------------------------------------

UNICODE = 'GREETING = "héllo 👋🏽 世界"\n\n\ndef greet(name):\n    return f"你好 {name} 👋 e\u0301"\n'


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


async def test_unicode_document_gets_utf16_columns(session: Session):
    answer = '```python\ndef greet(name):\n    return f"你好 {name}! 👋 e\u0301"\n```'
    session.models.reset()
    session.models.script(Reply(text=answer), model="gpt-4o")
    uri = session.open("unicode.py", UNICODE)
    rng = {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 0}}
    result = await session.run(_args(uri, rng))
    assert result["state"] == "done", result
    assert session.text(uri) == UNICODE.replace("{name} 👋", "{name}! 👋")
    edits = session.applied[-1].edit.document_changes[0].edits
    line = 'return f"你好 {name}'
    assert [(e.range.start.line, e.range.start.character) for e in edits] == [(4, 4 + _u16(line))]


async def test_unicode_selection_starting_after_an_emoji(session: Session):
    session.models.reset()
    session.models.script(Reply(text='```python\n"héllo 👋🏽 世界!"\n```'), model="gpt-4o")
    uri = session.open("unicode_mid.py", UNICODE)
    start = _u16('GREETING = ')
    end = _u16('GREETING = "héllo 👋🏽 世界"')
    result = await session.run(_args(uri, {"start": {"line": 0, "character": start},
                                           "end": {"line": 0, "character": end}}))
    assert result["state"] == "done", result
    assert session.text(uri) == UNICODE.replace("世界\"", "世界!\"")


async def test_negotiated_utf8_positions_are_honoured(tmp_path):
    caps = client_capabilities("neovim@v0.10.0")
    caps.general = T.GeneralClientCapabilities(position_encodings=[T.PositionEncodingKind.Utf8])
    s = await start_session(tmp_path, capabilities=caps)
    _unicode_editor.encoding = "utf-8"
    try:
        assert s.init_result.capabilities.position_encoding == "utf-8"
        s.models.script(Reply(text='```python\n"héllo 👋🏽 世界!"\n```'), model="gpt-4o")
        uri = s.open("utf8.py", UNICODE)
        start = len(b'GREETING = ')
        end = len('GREETING = "héllo 👋🏽 世界"'.encode())
        result = await s.run(_args(uri, {"start": {"line": 0, "character": start},
                                         "end": {"line": 0, "character": end}}))
        assert result["state"] == "done", result
        assert s.text(uri) == UNICODE.replace("世界\"", "世界!\"")
        edit = s.applied[-1].edit.document_changes[0].edits[0]
        assert edit.range.start.character == len('GREETING = "héllo 👋🏽 世界'.encode())
    finally:
        _unicode_editor.encoding = "utf-16"
        await s.stop()


async def test_crlf_file_keeps_its_line_endings(session: Session):
    crlf = SOURCE.replace("\n", "\r\n")
    uri, result = await _run_fault(session, "crlf.py", Reply(text=FIXED), text=crlf)
    assert result["state"] == "done", result
    assert session.text(uri) == EXPECTED.replace("\n", "\r\n")
    assert "\n" not in session.text(uri).replace("\r\n", "")


async def test_twenty_thousand_line_file(session: Session):
    big = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(6667))
    assert big.count("\n") >= 20_000
    middle = 3333 * 3
    session.models.reset()
    session.models.script(Reply(text="```python\ndef f3333():\n    return -3333\n```"), model="gpt-4o")
    uri = session.open("big.py", big)
    started = time.monotonic()
    offered = await session.code_actions(uri, T.Range(T.Position(middle, 0), T.Position(middle + 2, 0)))
    assert offered and time.monotonic() - started < 1.0
    _configure(session, {"tiers": {"mid": {"models": [
        {"model": "openai/gpt-4o", "api_base": session.models.url, "api_key_env": "ROUTERLS_TEST_KEY",
         "context_window": 8000}]}}})
    try:
        result = await asyncio.wait_for(session.run(_args(uri, {"start": {"line": middle, "character": 0},
                                                                "end": {"line": middle + 2, "character": 0}})), 30)
    finally:
        _configure(session)
    assert result["state"] == "done", result
    assert session.text(uri) == big.replace("return 3333\n", "return -3333\n")
    edits = session.applied[-1].edit.document_changes[0].edits
    assert len(edits) == 1 and edits[0].range.start.line == middle + 1
    sent = session.models.requests[-1].messages
    prompt = "".join(str(m["content"]) for m in sent)
    assert "return 3333" in prompt and len(prompt) < 8000 * 4  # trimmed to the model window


async def test_selection_at_end_of_file_without_final_newline(session: Session):
    text = SOURCE.rstrip("\n")
    uri, result = await _run_fault(session, "eof.py", Reply(text=FIXED), text=text)
    # the range runs to the very end: line 5, after `return 2`
    assert result["state"] == "done", result
    assert session.text(uri) == EXPECTED.rstrip("\n")


# --- the editor misbehaves ---------------------------------------------------------------------

async def test_document_closed_while_its_action_runs_is_not_edited(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED, **SLOW), model="gpt-4o")
    uri = session.open("closed.py", SOURCE)
    run = asyncio.create_task(session.run(_args(uri)))
    await session.until_streaming()
    session.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri=uri)))
    result = await asyncio.wait_for(run, 15)
    assert result["state"] == "error" and not result["applied"], result
    assert "was closed" in result["message"] and "reapply" in result["message"]
    assert len([a for a in session.applied if a.edit.document_changes[0].text_document.uri == uri]) == 0
    _consistent(session, result, ["ok"])  # the model was paid for: recorded
    # reopened, the kept result can still be applied
    session.open("closed.py", SOURCE)
    again = await session.run({"reapply": result["requestId"]})
    assert again["state"] == "done", again
    assert session.text(uri) == EXPECTED


async def test_same_action_fired_twice_quickly_edits_once(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED, chunks=4, chunk_delay=0.1),
                          Reply(text=FIXED, chunks=4, chunk_delay=0.2), model="gpt-4o")
    uri = session.open("twice.py", SOURCE)
    results = await asyncio.wait_for(asyncio.gather(session.run(_args(uri)), session.run(_args(uri))), 20)
    assert sorted(r["state"] for r in results) == ["done", "error"], results
    assert session.text(uri) == EXPECTED  # `return 22`, not `return 222`
    refused = next(r for r in results if r["state"] == "error")
    assert "not applied" in refused["message"] or "did not apply" in refused["message"]
    for r in results:
        _consistent(session, r, ["ok"])


async def test_client_that_never_answers_apply_edit(session: Session):
    session.models.reset()
    session.models.script(Reply(text=FIXED), model="gpt-4o")
    uri = session.open("silent.py", SOURCE)
    session.apply_mode = "never"
    try:
        started = time.monotonic()
        result = await asyncio.wait_for(session.run(_args(uri)), 15)
    finally:
        session.apply_mode = "apply"
    assert result["state"] == "error" and result["message"] == "client did not answer applyEdit"
    assert time.monotonic() - started < 8
    assert session.text(uri) == SOURCE
    _consistent(session, result, ["ok"])
    assert await session.code_actions(uri, T.Range(T.Position(0, 0), T.Position(1, 0)))


# --- the ledger and the config file change under the server ------------------------------------

async def test_locked_ledger_waits_for_the_lock_and_records(session: Session):
    db = sqlite3.connect(session.data / "ledger.sqlite3", isolation_level=None, timeout=5)
    db.execute("BEGIN EXCLUSIVE")
    try:
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("locked.py", SOURCE)
        run = asyncio.create_task(session.run(_args(uri)))
        await asyncio.sleep(1.5)
        assert not run.done()  # the row waits for the lock; nothing is lost or half-written
    finally:
        db.execute("ROLLBACK")
        db.close()
    result = await asyncio.wait_for(run, 15)
    assert result["state"] == "done" and session.text(uri) == EXPECTED
    _consistent(session, result, ["ok"])


async def test_corrupt_ledger_file_warns_and_actions_still_work(tmp_path):
    (tmp_path / "data").mkdir()
    ledger = tmp_path / "data" / "ledger.sqlite3"
    garbage = b"this is not a database\x00" * 200
    ledger.write_bytes(garbage)
    s = await start_session(tmp_path)
    try:
        s.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = s.open("corrupt.py", SOURCE)
        result = await asyncio.wait_for(s.run(_args(uri)), 20)
        assert result["state"] == "done" and s.text(uri) == EXPECTED, result
        warnings = [m.message for m in s.client.messages if m.type == T.MessageType.Warning]
        assert any("spend is not recorded" in m and str(ledger) in m and "corrupt" in m for m in warnings)
        assert ledger.read_bytes() == garbage  # left for the user to inspect, never overwritten
    finally:
        await s.stop()


async def test_config_file_deleted_while_running_keeps_the_last_good_config(session: Session):
    config = session.root.parent / "routerls-test.yaml"
    saved = config.read_text(encoding="utf-8")
    before = len(session.client.messages)
    config.unlink()
    try:
        _configure(session)
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("deleted_config.py", SOURCE)
        result = await session.run(_args(uri))
        assert result["state"] == "done" and result["model"] == "gpt-4o", result
        errors = [m.message for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert any(str(config) in m and "cannot read config file" in m and "last good" in m for m in errors)
    finally:
        config.write_text(saved, encoding="utf-8")
        _configure(session)


async def test_config_file_made_invalid_while_running_keeps_the_last_good_config(session: Session):
    config = session.root.parent / "routerls-test.yaml"
    saved = config.read_text(encoding="utf-8")
    before = len(session.client.messages)
    config.write_text(saved + "tiers: [unclosed\n", encoding="utf-8")
    try:
        _configure(session)
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("invalid_config.py", SOURCE)
        result = await session.run(_args(uri))
        assert result["state"] == "done" and result["model"] == "gpt-4o", result
        errors = [m.message for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert any(f"{config}:" in m and "YAML syntax error" in m for m in errors), errors
    finally:
        config.write_text(saved, encoding="utf-8")
        _configure(session)


async def test_the_ledger_is_consistent_after_the_matrix(session: Session):
    rows = session.ledger_rows()
    assert rows
    by_request: dict[str, list[dict]] = {}
    for r in rows:
        by_request.setdefault(r["request_id"], []).append(r)
    for request_rows in by_request.values():
        assert [r["fallback_index"] for r in request_rows] == list(range(len(request_rows)))
        assert sum(r["outcome"] == "ok" for r in request_rows) <= 1
        assert all(r["cost_usd"] >= 0 and r["input_tokens"] >= 0 for r in request_rows)
        assert all(r["prompt"] is None for r in request_rows)  # ledger.store_prompts is off
