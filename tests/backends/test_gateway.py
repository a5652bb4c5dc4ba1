"""The gateway against real HTTP: litellm → the scripted model server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest
from modelserver import Reply

from routerls.backends import failures
from routerls.backends import litellm as gateway
from routerls.backends.litellm import Attempt, GatewayError, complete, cost_usd
from routerls.config import GatewaySettings, ModelEntry, Price

FAST = GatewaySettings(timeout_s=5.0, retries=2, backoff_s=0.01, max_output_tokens=256)
MESSAGES = [{"role": "system", "content": "You edit code."},
            {"role": "user", "content": "Fix the bug in f()"}]


def entry(server, model="openai/gpt-4o-mini", **kw) -> ModelEntry:
    return ModelEntry(model=model, api_base=server.url, **kw)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outcomes(attempts: tuple[Attempt, ...]) -> list[tuple[str, str]]:
    return [(a.model, a.outcome) for a in attempts]


async def test_streamed_answer_is_priced_like_litellm(model_server):
    import litellm

    model_server.script(Reply(text="def f():\n    return 1\n", chunks=4, prompt_tokens=1200,
                              completion_tokens=345), model="gpt-4o-mini")
    seen: list[int] = []
    done = await complete(MESSAGES, [("cheap", entry(model_server))], FAST, on_token=seen.append)

    assert done.text == "def f():\n    return 1\n"
    assert (done.tier, done.input_tokens, done.output_tokens) == ("cheap", 1200, 345)
    prompt, completion = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1200,
                                                completion_tokens=345)
    assert done.cost_usd == pytest.approx(prompt + completion, abs=1e-9)
    assert done.cost_usd > 0
    assert outcomes(done.attempts) == [("openai/gpt-4o-mini", "ok")]
    assert done.attempts[-1].cost_usd == done.cost_usd and not done.estimated
    assert seen == sorted(set(seen)) and len(seen) >= 4 and seen[-1] == 345
    (sent,) = model_server.requests
    assert sent.stream and sent.messages == MESSAGES
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["max_tokens"] == 256


async def test_price_override_beats_litellm_map(model_server):
    model_server.script(Reply(text="ok", prompt_tokens=1000, completion_tokens=500))
    priced = entry(model_server, price=Price(input_per_mtok=1.0, output_per_mtok=2.0))
    done = await complete(MESSAGES, [("cheap", priced)], FAST)
    assert done.cost_usd == pytest.approx(0.002, abs=1e-12)


@pytest.mark.timing
async def test_rate_limit_is_retried_then_succeeds(model_server):
    model_server.script(Reply(status=429, retry_after=0.05), Reply(text="fixed"), model="gpt-4o-mini")
    t0 = time.monotonic()
    done = await complete(MESSAGES, [("cheap", entry(model_server))], FAST)
    assert done.text == "fixed"
    assert outcomes(done.attempts) == [("openai/gpt-4o-mini", "rate_limited"),
                                       ("openai/gpt-4o-mini", "ok")]
    assert time.monotonic() - t0 >= 0.05  # Retry-After honoured
    assert len(model_server.requests) == 2  # litellm/openai did not retry on their own


@pytest.mark.timing
async def test_long_retry_after_moves_to_next_model(model_server):
    model_server.script(Reply(status=429, retry_after=3600), model="gpt-4o-mini")
    model_server.script("from mid", model="claude-haiku")
    chain = [("cheap", entry(model_server)), ("mid", entry(model_server, "openai/claude-haiku"))]
    t0 = time.monotonic()
    done = await complete(MESSAGES, chain, FAST)
    assert time.monotonic() - t0 < 2
    assert outcomes(done.attempts) == [("openai/gpt-4o-mini", "rate_limited"),
                                       ("openai/claude-haiku", "ok")]


async def test_server_errors_exhaust_retries_then_fall_back(model_server):
    model_server.script(Reply(status=500), Reply(status=503), Reply(status=500), model="gpt-4o-mini")
    model_server.script("from mid", model="claude-haiku")
    chain = [("cheap", entry(model_server)), ("mid", entry(model_server, "openai/claude-haiku"))]
    done = await complete(MESSAGES, chain, FAST)
    assert (done.text, done.tier) == ("from mid", "mid")
    assert [a.outcome for a in done.attempts] == ["server_error"] * 3 + ["ok"]


@pytest.mark.timing
async def test_timeout_moves_to_next_model_without_retry(model_server):
    model_server.script(Reply(text="late", delay_first_byte=2.0), model="slow")
    model_server.script("quick", model="fast")
    chain = [("cheap", entry(model_server, "openai/slow", timeout_s=0.3)),
             ("cheap", entry(model_server, "openai/fast"))]
    t0 = time.monotonic()
    done = await complete(MESSAGES, chain, FAST)
    assert done.text == "quick" and time.monotonic() - t0 < 1.5
    assert outcomes(done.attempts) == [("openai/slow", "timeout"), ("openai/fast", "ok")]
    assert len(model_server.requests_for("slow")) == 1


async def test_stream_that_stalls_midway_is_a_timeout(model_server):
    model_server.script(Reply(text="abcdefgh", chunks=4, chunk_delay=0.4), model="stall")
    model_server.script("rescued", model="fast")
    chain = [("cheap", entry(model_server, "openai/stall", timeout_s=0.7)),
             ("cheap", entry(model_server, "openai/fast"))]
    done = await complete(MESSAGES, chain, FAST)
    assert outcomes(done.attempts) == [("openai/stall", "timeout"), ("openai/fast", "ok")]
    assert done.attempts[0].latency_ms < 1200


async def test_dead_model_falls_through_to_next_entry(model_server):
    dead = ModelEntry(model="openai/gone", api_base=f"http://127.0.0.1:{dead_port()}/v1")
    model_server.script("alive", model="gpt-4o-mini")
    done = await complete(MESSAGES, [("local", dead), ("cheap", entry(model_server))],
                          GatewaySettings(timeout_s=5, retries=1, backoff_s=0.01))
    assert done.text == "alive"
    assert outcomes(done.attempts) == [("openai/gone", "connection_error")] * 2 + [
        ("openai/gpt-4o-mini", "ok")]


async def test_all_models_failing_raises_with_every_attempt(model_server):
    model_server.default(Reply(status=500))
    chain = [("cheap", entry(model_server)), ("mid", entry(model_server, "openai/claude-haiku"))]
    with pytest.raises(GatewayError) as caught:
        await complete(MESSAGES, chain, GatewaySettings(retries=1, backoff_s=0.01))
    err = caught.value
    assert [a.outcome for a in err.attempts] == ["server_error"] * 4
    assert "openai/gpt-4o-mini" in str(err) and "openai/claude-haiku" in str(err)
    assert "2 model(s) failed after 4 attempt(s)" in str(err)


async def test_empty_and_malformed_answers_are_bad_responses(model_server):
    model_server.script(Reply(text=""), model="empty")
    model_server.script(Reply(malformed=True), model="broken")
    model_server.script("good", model="fine")
    chain = [("cheap", entry(model_server, "openai/empty")),
             ("cheap", entry(model_server, "openai/broken")),
             ("mid", entry(model_server, "openai/fine"))]
    done = await complete(MESSAGES, chain, FAST)
    assert outcomes(done.attempts) == [("openai/empty", "bad_response"),
                                       ("openai/broken", "bad_response"), ("openai/fine", "ok")]


async def test_stream_cut_midway_is_retried(model_server):
    model_server.script(Reply(text="abcdef", chunks=3, cut_after=1), Reply(text="whole"),
                        model="gpt-4o-mini")
    done = await complete(MESSAGES, [("cheap", entry(model_server))], FAST)
    assert done.text == "whole"
    assert [a.outcome for a in done.attempts] == ["connection_error", "ok"]


async def test_missing_usage_is_estimated(model_server):
    model_server.script(Reply(text="one two three four five six", usage=False))
    done = await complete(MESSAGES, [("cheap", entry(model_server))], FAST)
    assert done.estimated and done.input_tokens > 0 and done.output_tokens > 0


async def test_ollama_chat_provider(model_server):
    model_server.script(Reply(text="local answer", chunks=3, prompt_tokens=40,
                              completion_tokens=3), model="qwen2.5-coder")
    local = ModelEntry(model="ollama_chat/qwen2.5-coder", api_base=model_server.ollama_url)
    seen: list[int] = []
    done = await complete(MESSAGES, [("local", local)], FAST, on_token=seen.append)
    assert (done.text, done.input_tokens, done.output_tokens) == ("local answer", 40, 3)
    assert done.cost_usd == 0.0  # unknown to litellm's price map: free
    (sent,) = model_server.requests
    assert sent.api == "ollama" and sent.model == "qwen2.5-coder" and sent.stream
    assert seen == sorted(seen) and seen


@pytest.mark.timing
async def test_cancellation_mid_stream_is_prompt(model_server):
    model_server.script(Reply(text="x" * 40, chunks=40, chunk_delay=0.2))
    tokens: list[int] = []
    task = asyncio.create_task(
        complete(MESSAGES, [("cheap", entry(model_server))], FAST, on_token=tokens.append))
    while not tokens:
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 0.5


async def test_on_attempt_sees_attempts_as_they_finish(model_server):
    model_server.script(Reply(status=429, retry_after=0), "ok")
    seen: list[Attempt] = []
    done = await complete(MESSAGES, [("cheap", entry(model_server))], FAST, on_attempt=seen.append)
    assert tuple(seen) == done.attempts


async def test_error_text_never_carries_the_api_key(model_server, monkeypatch):
    monkeypatch.setenv("ROUTERLS_TEST_KEY", "hunter2-secret-value")
    secret_entry = entry(model_server, api_key_env="ROUTERLS_TEST_KEY")
    scrubbed = failures.scrub("bad key hunter2-secret-value and sk-abcdef1234567890", secret_entry)
    assert "hunter2" not in scrubbed and "sk-abcdef" not in scrubbed
    model_server.default(Reply(status=401))
    with pytest.raises(GatewayError) as caught:
        await complete(MESSAGES, [("cheap", secret_entry)], FAST)
    assert [a.outcome for a in caught.value.attempts] == ["auth_error"]  # no retry on auth
    assert "hunter2" not in str(caught.value)


def test_prices_and_context_windows():
    mini = ModelEntry(model="openai/gpt-4o-mini")
    assert gateway.price_per_mtok(mini) == pytest.approx((0.15, 0.6))
    assert gateway.price_per_mtok(ModelEntry(model="openai/no-such-model")) is None
    assert gateway.price_per_mtok(ModelEntry(model="x/y", price=Price(1, 2))) == (1, 2)
    assert cost_usd(ModelEntry(model="openai/no-such-model"), 1000, 1000) == 0.0
    assert gateway.context_window(mini) == 128000
    assert gateway.context_window(ModelEntry(model="x/y", context_window=4096)) == 4096
    assert gateway.context_window(ModelEntry(model="openai/no-such-model")) == 8192


def test_importing_gateway_does_not_import_litellm():
    code = "import sys, routerls.backends.litellm; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "False"
