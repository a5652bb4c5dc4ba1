"""The backend misbehaves on the wire: refused connections, 429 with Retry-After, 500s, a slow
first byte, a stream cut mid-answer, and every model failing."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from server_session import Reply, Session

from .matrix import EXPECTED, FIXED, SOURCE, _args, _configure, _consistent, _run_fault

pytestmark = pytest.mark.asyncio(loop_scope="package")


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
