"""The scripted model server itself: both APIs, scripting, rules, the log, and the process mode."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from modelserver import ModelServerProcess, Reply, Request

USER = [{"role": "user", "content": "please rename x"}]


async def post(url: str, body: dict) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, dict(response.headers), await response.read()


async def get(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


def sse(raw: bytes) -> list[dict | str]:
    events = [line[len("data: "):] for line in raw.decode().splitlines() if line.startswith("data: ")]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


async def test_openai_non_streaming_answer_with_usage(model_server):
    model_server.script(Reply(text="renamed", prompt_tokens=12, completion_tokens=3), model="m1")
    status, _, raw = await post(model_server.url + "/chat/completions",
                                {"model": "m1", "messages": USER})
    body = json.loads(raw)
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "renamed"
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


async def test_openai_stream_sends_chunks_then_usage_then_done(model_server):
    model_server.script(Reply(text="abcdef", chunks=3, completion_tokens=9))
    _, headers, raw = await post(model_server.url + "/chat/completions",
                                 {"model": "m", "messages": USER, "stream": True})
    events = sse(raw)
    assert headers["Content-Type"].startswith("text/event-stream")
    assert [e["choices"][0]["delta"].get("content") for e in events[:3]] == ["ab", "cd", "ef"]
    assert events[3]["choices"][0]["finish_reason"] == "stop"
    assert events[4]["usage"]["completion_tokens"] == 9 and events[4]["choices"] == []
    assert events[5] == "[DONE]"


async def test_error_statuses_and_retry_after(model_server):
    model_server.script(Reply(status=429, retry_after=2), Reply(status=500))
    status, headers, _ = await post(model_server.url + "/chat/completions", {"model": "m"})
    assert (status, headers["Retry-After"]) == (429, "2")
    status, _, _ = await post(model_server.url + "/chat/completions", {"model": "m"})
    assert status == 500


async def test_malformed_json_answer(model_server):
    model_server.script(Reply(malformed=True))
    _, _, raw = await post(model_server.url + "/chat/completions", {"model": "m", "messages": USER})
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_cut_stream_drops_the_connection(model_server):
    model_server.script(Reply(text="abcd", chunks=4, cut_after=2))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(model_server.url + "/chat/completions",
                   {"model": "m", "messages": USER, "stream": True})


async def test_queues_per_model_then_rules_then_default(model_server):
    model_server.script("for a", model="openai/a")  # a provider prefix still matches
    model_server.rule("rename", "renamed by rule")
    model_server.rule(fn=lambda r: f"echo {r.last_user}" if r.model == "echo" else None)
    model_server.default("fallback")

    async def ask(model: str, text: str = "rename it") -> str:
        _, _, raw = await post(model_server.url + "/chat/completions",
                               {"model": model, "messages": [{"role": "user", "content": text}]})
        return json.loads(raw)["choices"][0]["message"]["content"]

    assert await ask("a") == "for a"
    assert await ask("a") == "renamed by rule"  # queue used up
    assert await ask("echo", "hi") == "echo hi"
    assert await ask("b", "nothing") == "fallback"
    assert [r.model for r in model_server.requests] == ["a", "a", "echo", "b"]
    assert model_server.requests[0].last_user == "rename it"


async def test_ollama_endpoints(model_server):
    model_server.script(Reply(text="hey you", chunks=2, prompt_tokens=7, completion_tokens=2))
    _, headers, raw = await post(model_server.ollama_url + "/api/chat",
                                 {"model": "llama3", "messages": USER})
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    assert headers["Content-Type"].startswith("application/x-ndjson")
    assert "".join(x["message"]["content"] for x in lines) == "hey you"
    assert lines[-1]["done"] and (lines[-1]["prompt_eval_count"], lines[-1]["eval_count"]) == (7, 2)
    _, _, raw = await post(model_server.ollama_url + "/api/chat",
                           {"model": "llama3", "messages": USER, "stream": False})
    assert json.loads(raw)["message"]["content"] == "ok"
    assert (await get(model_server.ollama_url + "/api/version"))["version"]
    assert "models" in await get(model_server.ollama_url + "/api/tags")
    assert (await get(model_server.url + "/models"))["object"] == "list"


async def test_concurrent_requests_are_served_in_parallel(model_server):
    model_server.default(Reply(text="slow", delay_first_byte=0.3))
    t0 = time.monotonic()
    await asyncio.gather(*(post(model_server.url + "/chat/completions", {"model": "m"})
                           for _ in range(5)))
    assert time.monotonic() - t0 < 1.0


def test_subprocess_server_scripted_over_http(tmp_path):
    with ModelServerProcess({"models": {"m": [{"text": "from file"}]}}) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        server.script("queued over http", model="m")
        server.rule(contains="magic", reply={"text": "rule hit"})

        def ask(text: str) -> str:
            import urllib.request

            req = urllib.request.Request(
                server.url + "/chat/completions", method="POST",
                data=json.dumps({"model": "m", "messages": [
                    {"role": "user", "content": text}]}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as response:
                return json.loads(response.read())["choices"][0]["message"]["content"]

        assert [ask("x"), ask("x"), ask("some magic"), ask("x")] == [
            "from file", "queued over http", "rule hit", "ok"]
        logged = server.requests
        assert isinstance(logged[0], Request) and logged[2].last_user == "some magic"
        server.reset()
        assert server.requests == []
    assert server.process.poll() is not None
