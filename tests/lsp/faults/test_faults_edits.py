"""Documents that are hard to count: UTF-16 and negotiated UTF-8 columns, CRLF line endings, a
20 000-line file, a selection at the end of a file without a final newline."""

from __future__ import annotations

import asyncio
import time

import pytest
import server_session
from lsprotocol import types as T
from pytest_lsp import client_capabilities
from server_session import Reply, Session, start_session

from .matrix import EXPECTED, FIXED, SOURCE, _args, _configure, _run_fault

pytestmark = pytest.mark.asyncio(loop_scope="package")


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


@pytest.mark.slow
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
