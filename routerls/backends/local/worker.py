"""The worker process: llama.cpp (the prebuilt `xllamacpp` wheel) behind the OpenAI routes.

`python -m routerls.backends.local worker --port P NAME=PATH:STYLE:N_CTX …` loads the models and
answers the routes litellm calls (`/v1/models`, `/v1/completions`, `/v1/chat/completions`, streamed
as server-sent events). Only the standard library and attrs are imported here, so the worker
starts without the rest of routerls; `runtime.py` starts and stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs

IDLE_EXIT_S = 30 * 60.0
MAX_OUTPUT_TOKENS = 512  # per answer from an embedded model, whatever the request asks


@attrs.define
class _Loaded:
    name: str
    path: str
    style: str
    llm: Any
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class _Worker(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], models: dict[str, _Loaded], idle_exit_s: float):
        super().__init__(address, _Handler)
        self.models = models
        self.idle_exit_s = idle_exit_s
        self.last_request = time.monotonic()
        self.busy = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Worker
    protocol_version = "HTTP/1.0"  # one request per connection; a stream ends when it closes

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the log is for errors
        pass

    def _send_json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        self._send_json(code, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_GET(self) -> None:
        self.server.last_request = time.monotonic()
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": m.name, "object": "model", "owned_by": "routerls", "style": m.style,
                 "file": Path(m.path).name} for m in self.server.models.values()]})
        elif self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        self.server.last_request = time.monotonic()
        route = self.path.rstrip("/").removeprefix("/v1")
        if route not in ("/completions", "/chat/completions"):
            return self._error(404, f"no route {self.path}")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            return self._error(400, "the body is not JSON")
        model = self.server.models.get(str(body.get("model", "")).rsplit("/", 1)[-1])
        if model is None:
            return self._error(404, f"unknown model {body.get('model')!r}; serving "
                               + ", ".join(self.server.models))
        chat = route == "/chat/completions"
        if chat and model.style == "completion":
            return self._error(400, f"{model.name} is a base model without a chat template; "
                               "call /v1/completions with a prompt")
        self.server.busy += 1
        try:
            self._generate(model, body, chat)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; generation has stopped (send() said so)
        finally:
            self.server.busy -= 1
            self.server.last_request = time.monotonic()

    def _generate(self, model: _Loaded, body: dict, chat: bool) -> None:
        try:
            request = _request(body, chat)
        except (TypeError, ValueError) as exc:
            return self._error(400, f"bad request: {exc}")
        stream = bool(request.get("stream"))
        handle = model.llm.handle_chat_completions if chat else model.llm.handle_completions
        with model.lock:
            if not stream:
                result = handle(request)
                if "error" in result:
                    return self._llama_error(result["error"])
                result["model"] = model.name
                return self._send_json(200, result)
            opened = False
            gone = False

            def send(chunk: dict) -> bool:
                """One server-sent event; True (stop generating) once the client has gone."""
                nonlocal opened, gone
                try:
                    if not opened:
                        self._open_stream()
                        opened = True
                    chunk["model"] = model.name
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                except OSError:
                    gone = True
                return gone

            result = handle(request, send)
            if gone:
                return
            if isinstance(result, dict) and "error" in result and not opened:
                return self._llama_error(result["error"])
            if not opened:
                self._open_stream()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    def _llama_error(self, error: dict) -> None:
        """An error llama.cpp answered with (its code and message), passed on as ours."""
        self._error(int(error.get("code") or 500), str(error.get("message")))

    def _open_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()


def _request(body: dict, chat: bool) -> dict[str, Any]:
    """What of an OpenAI request reaches llama.cpp: the text, and sampling settings with our
    bounds. Nothing else (no grammar, no n, no logit bias) is passed through."""
    request: dict[str, Any] = {
        # a small model that rambles must stop while the editor still waits (~10 s here)
        "max_tokens": min(int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
                          MAX_OUTPUT_TOKENS),
        # greedy unless asked: small models wander at the usual 0.8
        "temperature": float(body.get("temperature") if body.get("temperature") is not None else 0.0),
        "stream": bool(body.get("stream")),
    }
    if body.get("stop"):
        stop = body["stop"]
        request["stop"] = [stop] if isinstance(stop, str) else [str(x) for x in stop]
    if request["stream"] and (body.get("stream_options") or {}).get("include_usage"):
        request["stream_options"] = {"include_usage": True}
    if chat:
        messages = body.get("messages") or []
        if not isinstance(messages, list):
            raise TypeError("messages must be a list")
        request["messages"] = messages
    else:
        prompt = body.get("prompt") or ""
        request["prompt"] = str(prompt[0] if isinstance(prompt, list) and prompt else prompt)
    return request


def load(spec: str) -> _Loaded:
    """`name=path:style:n_ctx` → a loaded model: llama.cpp's own server code, called in-process.

    xllamacpp also opens llama.cpp's HTTP listener on a random loopback port; it gets a random
    API key nobody is told, so only this worker (which calls it directly) can use the model.
    """
    import secrets

    import xllamacpp

    name, rest = spec.split("=", 1)
    path, style, n_ctx = rest.rsplit(":", 2)
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = int(n_ctx)
    params.n_parallel = 1  # requests to one model queue on its lock anyway
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = max(1, min(os.cpu_count() or 1, 8))
    params.warmup = False  # a warm-up pass costs a second of start-up and buys nothing here
    params.api_keys = [secrets.token_urlsafe(32)]
    params.endpoint_metrics = params.endpoint_slots = params.endpoint_props = False
    params.verbosity = -1
    return _Loaded(name, path, style, xllamacpp.Server(params))


def main(argv: Sequence[str]) -> int:
    """Serve until idle for `--idle-exit-s` or SIGTERM; the state file goes with the worker."""
    p = argparse.ArgumentParser(prog="python -m routerls.backends.local worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle-exit-s", type=float, default=IDLE_EXIT_S)
    p.add_argument("--state", type=Path)
    p.add_argument("models", nargs="+", metavar="NAME=PATH:STYLE:N_CTX")
    args = p.parse_args(argv)
    loaded = {m.name: m for m in (load(s) for s in args.models)}
    server = _Worker((args.host, args.port), loaded, args.idle_exit_s)
    if args.state:
        args.state.write_text(json.dumps({"pid": os.getpid(), "host": args.host, "port": args.port,
                                          "models": list(loaded), "started_at": time.time(),
                                          "files": {m.name: m.path for m in loaded.values()}}))

    def idle_watch() -> None:
        while True:
            time.sleep(min(5.0, max(args.idle_exit_s / 4, 0.05)))
            if not server.busy and time.monotonic() - server.last_request > args.idle_exit_s:
                server.shutdown()
                return

    threading.Thread(target=idle_watch, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.state:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(args.state.read_text()).get("pid") == os.getpid():
                    args.state.unlink()
    return 0


