"""A scripted model server on 127.0.0.1 that speaks the OpenAI and Ollama chat APIs.

Every test of the project talks to models through this instead of the network, so a test can say
exactly what a model answers and how it misbehaves (429, 500, stalls, cut streams, bad JSON).

In-process: `ModelServer().start()` runs it on its own thread and event loop, so sync tests, async
tests and code that blocks all reach it alike. As a process:

    python tests/support/modelserver.py --port 0 [--script FILE]

prints the OpenAI base URL (`http://127.0.0.1:PORT/v1`) as its first stdout line; drive it with
`ModelServerClient(url)` or plain HTTP: `POST /_script` (the same JSON as FILE), `POST /_reset`,
`GET /_requests`.

Script JSON:

    {"default": REPLY,
     "models": {"gpt-4o-mini": [REPLY, ...]},          # queues, consumed one reply per request
     "rules": [{"contains": "X", "reply": REPLY, "model": "optional"},
               {"regex": "x+y", "reply": REPLY}]}      # matched on the last user message

REPLY is a `Reply` as JSON, e.g. `{"text": "hi", "chunks": 3}` or `{"status": 429, "retry_after": 1}`.
Per request: the model's queue first, then rules (first match wins), then the default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

import attrs
from aiohttp import web


@attrs.frozen
class Reply:
    """One scripted answer; the fields combine (e.g. a slow first byte, then a cut stream)."""

    text: str = "ok"
    prompt_tokens: int | None = None  # None: a rough count of the request's words
    completion_tokens: int | None = None  # None: one per chunk sent
    chunks: int = 1  # a streamed answer is split into this many pieces
    chunk_delay: float = 0.0  # seconds before each streamed piece
    delay_first_byte: float = 0.0  # seconds before the status line (for timeouts)
    status: int = 200  # anything else answers with an error body
    retry_after: float | None = None  # sent as Retry-After with an error status
    cut_after: int | None = None  # drop the connection after this many streamed pieces
    malformed: bool = False  # answer with bytes that are not JSON
    usage: bool = True  # False: leave usage out, so clients must estimate

    @classmethod
    def of(cls, value: Reply | str | Mapping[str, Any]) -> Reply:
        if isinstance(value, Reply):
            return value
        if isinstance(value, str):
            return cls(text=value)
        return cls(**value)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Rule:
    """Answer `reply` when the last user message contains `contains` (or matches `regex`)."""

    reply: Reply
    contains: str | None = None
    regex: str | None = None
    model: str | None = None

    def matches(self, request: Request) -> bool:
        if self.model is not None and not _model_matches(self.model, request.model):
            return False
        text = request.last_user
        if self.contains is not None and self.contains not in text:
            return False
        return self.regex is None or re.search(self.regex, text) is not None

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Rule:
        return cls(reply=Reply.of(value["reply"]), contains=value.get("contains"),
                   regex=value.get("regex"), model=value.get("model"))


@attrs.frozen
class Request:
    """What a client sent, as logged for asserts."""

    api: str  # "openai" | "ollama"
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    body: dict[str, Any]
    time: float
    authorization: str = ""  # the Authorization header, so tests can see which key was sent

    @property
    def last_user(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _content_text(message.get("content"))
        return ""

    def to_json(self) -> dict[str, Any]:
        return {"api": self.api, "model": self.model, "messages": self.messages,
                "stream": self.stream, "body": self.body, "time": self.time,
                "authorization": self.authorization}

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Request:
        return cls(**value)


RuleFn = Callable[[Request], "Reply | str | None"]


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _model_matches(key: str, model: str) -> bool:
    """`openai/gpt-4o-mini` in a script also matches the `gpt-4o-mini` a provider sends."""
    return key == model or key.endswith("/" + model)


def _split(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text))) if text else 1
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


class Script:
    """Queues, rules and the default, shared by the HTTP handlers; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.default = Reply()
            self.queues: dict[str, list[Reply]] = {}
            self.rules: list[Rule | RuleFn] = []
            self.requests: list[Request] = []

    def add(self, model: str | None, replies: list[Reply]) -> None:
        with self._lock:
            self.queues.setdefault(model or "*", []).extend(replies)

    def add_rule(self, rule: Rule | RuleFn) -> None:
        with self._lock:
            self.rules.append(rule)

    def load(self, data: Mapping[str, Any]) -> None:
        """Merge a JSON script: queues and rules append, `default` replaces."""
        if data.get("reset"):
            self.reset()
        if "default" in data:
            with self._lock:
                self.default = Reply.of(data["default"])
        for model, replies in (data.get("models") or {}).items():
            self.add(None if model == "*" else model, [Reply.of(r) for r in replies])
        for rule in data.get("rules") or []:
            self.add_rule(Rule.of(rule))

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for key, queue in self.queues.items():
                if queue and key != "*" and _model_matches(key, request.model):
                    return queue.pop(0)
            if self.queues.get("*"):
                return self.queues["*"].pop(0)
            rules = list(self.rules)
            default = self.default
        for rule in rules:  # outside the lock: a rule function may be slow or call back in
            if isinstance(rule, Rule):
                if rule.matches(request):
                    return rule.reply
            else:
                got = rule(request)
                if got is not None:
                    return Reply.of(got)
        return default


def _prompt_tokens(reply: Reply, messages: list[dict[str, Any]]) -> int:
    if reply.prompt_tokens is not None:
        return reply.prompt_tokens
    return sum(len(_content_text(m.get("content")).split()) + 4 for m in messages)


class _App:
    """The aiohttp handlers for both APIs plus the `/_` control endpoints."""

    def __init__(self, script: Script):
        self.script = script
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/chat/completions", self.openai_chat)
        app.router.add_get("/v1/models", self.openai_models)
        app.router.add_post("/api/chat", self.ollama_chat)
        app.router.add_get("/api/tags", self.ollama_tags)
        app.router.add_get("/api/version", self.ollama_version)
        app.router.add_post("/api/show", self.ollama_show)
        app.router.add_post("/_script", self.set_script)
        app.router.add_post("/_reset", self.reset)
        app.router.add_get("/_requests", self.get_requests)
        self.app = app

    # --- control ------------------------------------------------------------------------

    async def set_script(self, request: web.Request) -> web.Response:
        self.script.load(await request.json())
        return web.json_response({"ok": True})

    async def reset(self, request: web.Request) -> web.Response:
        self.script.reset()
        return web.json_response({"ok": True})

    async def get_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in list(self.script.requests)])

    # --- shared -------------------------------------------------------------------------

    async def _read(self, request: web.Request, api: str) -> tuple[Request, Reply] | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": {"message": "request body is not JSON"}}, status=400)
        stream = bool(body.get("stream", api == "ollama"))  # Ollama streams unless told not to
        logged = Request(api=api, model=str(body.get("model", "")),
                         messages=list(body.get("messages") or []), stream=stream, body=body,
                         time=time.time(), authorization=request.headers.get("Authorization", ""))
        reply = self.script.answer(logged)
        if reply.delay_first_byte:
            await asyncio.sleep(reply.delay_first_byte)
        return logged, reply

    @staticmethod
    def _error(reply: Reply) -> web.Response:
        headers = {}
        if reply.retry_after is not None:
            headers["Retry-After"] = f"{reply.retry_after:g}"
        kind = {429: "rate_limit_error", 401: "authentication_error"}.get(reply.status, "server_error")
        body = {"error": {"message": f"scripted {reply.status}", "type": kind, "code": str(reply.status)}}
        return web.json_response(body, status=reply.status, headers=headers)

    @staticmethod
    async def _cut(request: web.Request) -> None:
        """Drop the connection without finishing the chunked body: a stream dying mid-answer."""
        if request.transport is not None:
            request.transport.abort()

    # --- OpenAI -------------------------------------------------------------------------

    async def openai_models(self, request: web.Request) -> web.Response:
        models = sorted({k for k in self.script.queues if k != "*"} | {"scripted"})
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "modelserver"} for m in models]})

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        got = await self._read(request, "openai")
        if isinstance(got, web.Response):
            return got
        logged, reply = got
        if reply.status != 200:
            return self._error(reply)
        pieces = _split(reply.text, reply.chunks)
        prompt = _prompt_tokens(reply, logged.messages)
        completion = reply.completion_tokens if reply.completion_tokens is not None else len(
            [p for p in pieces if p])
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        if not logged.stream:
            if reply.malformed:
                return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [{',
                                    content_type="application/json")
            body = {"id": ident, "object": "chat.completion", "created": created,
                    "model": logged.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.text}}]}
            if reply.usage:
                body["usage"] = usage
            return web.json_response(body)

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": logged.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        if reply.malformed:
            await response.write(b"data: {this is not json\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        for i, piece in enumerate(pieces):
            if reply.cut_after is not None and i >= reply.cut_after:
                await self._cut(request)
                return response
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            await response.write(chunk(delta))
        await response.write(chunk({}, "stop"))
        if reply.usage:
            data = {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": logged.model, "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(data)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # --- Ollama -------------------------------------------------------------------------

    async def ollama_tags(self, request: web.Request) -> web.Response:
        models = sorted({k for k in self.script.queues if k != "*"} | {"scripted"})
        return web.json_response({"models": [
            {"name": m, "model": m, "size": 0, "digest": "0" * 12, "details": {}} for m in models]})

    async def ollama_version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.9.0-scripted"})

    async def ollama_show(self, request: web.Request) -> web.Response:
        return web.json_response({"modelfile": "", "parameters": "", "template": "",
                                  "details": {}, "model_info": {}})

    async def ollama_chat(self, request: web.Request) -> web.StreamResponse:
        got = await self._read(request, "ollama")
        if isinstance(got, web.Response):
            return got
        logged, reply = got
        if reply.status != 200:
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            return web.json_response({"error": f"scripted {reply.status}"}, status=reply.status,
                                     headers=headers)
        pieces = _split(reply.text, reply.chunks)
        prompt = _prompt_tokens(reply, logged.messages)
        completion = reply.completion_tokens if reply.completion_tokens is not None else len(
            [p for p in pieces if p])
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        def message(content: str, done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"model": logged.model, "created_at": now,
                                   "message": {"role": "assistant", "content": content},
                                   "done": done}
            if done:
                out["done_reason"] = "stop"
                if reply.usage:
                    out.update(prompt_eval_count=prompt, eval_count=completion)
            return out

        if not logged.stream:
            if reply.malformed:
                return web.Response(body=b'{"model": "broken", "message": {',
                                    content_type="application/json")
            return web.json_response(message(reply.text, True))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        if reply.malformed:
            await response.write(b"{this is not json\n")
            await response.write_eof()
            return response
        for i, piece in enumerate(pieces):
            if reply.cut_after is not None and i >= reply.cut_after:
                await self._cut(request)
                return response
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            await response.write((json.dumps(message(piece, False)) + "\n").encode())
        await response.write((json.dumps(message("", True)) + "\n").encode())
        await response.write_eof()
        return response


class ModelServer:
    """The server on its own thread and event loop; `.url` is the OpenAI base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self._script = Script()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> ModelServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001  # re-raised by start() below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="modelserver", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(_App(self._script).app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------

    @property
    def ollama_url(self) -> str:
        """Base URL for litellm's `ollama_chat/` provider (it appends `/api/chat`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL for OpenAI-compatible clients (`openai/` models' api_base)."""
        return self.ollama_url + "/v1"

    # --- scripting ----------------------------------------------------------------------

    def script(self, *replies: Reply | str | Mapping[str, Any], model: str | None = None) -> None:
        """Queue replies for `model` (as the request names it, or `provider/model`), else for any."""
        self._script.add(model, [Reply.of(r) for r in replies])

    def rule(self, contains: str | None = None, reply: Reply | str | Mapping[str, Any] = "ok", *,
             regex: str | None = None, model: str | None = None,
             fn: RuleFn | None = None) -> None:
        """Answer by the request: `contains`/`regex` on the last user message, or `fn(request)`."""
        self._script.add_rule(fn if fn is not None else Rule(
            reply=Reply.of(reply), contains=contains, regex=regex, model=model))

    def default(self, reply: Reply | str | Mapping[str, Any]) -> None:
        self._script.default = Reply.of(reply)

    def load(self, data: Mapping[str, Any]) -> None:
        self._script.load(data)

    def reset(self) -> None:
        self._script.reset()

    @property
    def requests(self) -> list[Request]:
        return list(self._script.requests)

    def requests_for(self, model: str) -> list[Request]:
        return [r for r in self.requests if _model_matches(model, r.model)]


class ModelServerClient:
    """Drives a model server in another process over HTTP, with ModelServer's scripting names."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.ollama_url = self.url.removesuffix("/v1")

    def _call(self, method: str, path: str, data: Any = None) -> Any:
        import urllib.request

        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(self.ollama_url + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    def script(self, *replies: Reply | str | Mapping[str, Any], model: str | None = None) -> None:
        self.load({"models": {model or "*": [Reply.of(r).to_json() for r in replies]}})

    def rule(self, contains: str | None = None, reply: Reply | str | Mapping[str, Any] = "ok", *,
             regex: str | None = None, model: str | None = None) -> None:
        self.load({"rules": [{"contains": contains, "regex": regex, "model": model,
                              "reply": Reply.of(reply).to_json()}]})

    def default(self, reply: Reply | str | Mapping[str, Any]) -> None:
        self.load({"default": Reply.of(reply).to_json()})

    def load(self, data: Mapping[str, Any]) -> None:
        self._call("POST", "/_script", data)

    def reset(self) -> None:
        self._call("POST", "/_reset", {})

    @property
    def requests(self) -> list[Request]:
        return [Request.of(r) for r in self._call("GET", "/_requests")]


class ModelServerProcess(ModelServerClient):
    """`python tests/support/modelserver.py` as a child process; stop() ends it."""

    def __init__(self, script: Mapping[str, Any] | None = None):
        args = [sys.executable, str(Path(__file__).resolve()), "--port", "0"]
        self._script_file = None
        if script is not None:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
                json.dump(script, handle)
            self._script_file = Path(handle.name)
            args += ["--script", handle.name]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip() if self.process.stdout else ""
        if not line.startswith("http://"):
            self.process.kill()
            raise RuntimeError(f"model server did not start (printed {line!r})")
        super().__init__(line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self._script_file is not None:
            self._script_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted OpenAI/Ollama model server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="JSON script (see module docstring)")
    args = parser.parse_args(argv)
    server = ModelServer(args.host, args.port)
    if args.script is not None:
        server.load(json.loads(args.script.read_text(encoding="utf-8")))
    server.start()
    print(server.url, flush=True)
    stop = threading.Event()
    try:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
