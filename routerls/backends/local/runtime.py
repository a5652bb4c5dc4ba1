"""Start, reuse and stop the local runtime: the worker process that serves the embedded models.

The worker (`python -m routerls.backends.local worker …`, see `worker.py`) answers the OpenAI
routes on the loopback address and port named by the config's `api_base`. One runtime per port,
ever: starting happens under a file lock in the data dir, a runtime that answers with our models
is reused (whoever started it, whatever version: it is recognised by what `/v1/models` lists), and
the worker records its pid and port in `<data dir>/local/runtime-<port>.json` and exits after
`IDLE_EXIT_S` without requests so an on-demand start does not linger for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from routerls.backends.local import models
from routerls.backends.local.models import EMBEDDED, INSTALL_HINT, RUNTIME, LocalError
from routerls.backends.local.worker import IDLE_EXIT_S
from routerls.paths import data_dir

START_TIMEOUT_S = 60.0
STILL_LOADING_S = 5.0  # while the runtime starts, say so this often (the CLI shows it on stderr)
MAIN_MODULE = "routerls.backends.local"  # `python -m` it: worker | check | smoke NAME

# Progress of what takes seconds (starting the runtime): INFO records.
# `routerls run` shows them on stderr; the language server writes them to its log, never stdout.
log = logging.getLogger(__name__)


def runtime_dir() -> Path:
    """`<data dir>/local`: the runtime's state, lock and log files."""
    path = data_dir() / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _address(api_base: str) -> tuple[str, int]:
    parts = urlsplit(api_base)
    host = parts.hostname or "127.0.0.1"
    return ("127.0.0.1" if host == "localhost" else host), parts.port or 80


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


def get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def served_models(api_base: str, timeout: float = 1.0) -> list[str] | None:
    """The model ids an OpenAI-style server lists, or None when nothing answers there."""
    try:
        data = get_json(api_base.rstrip("/") + "/models", timeout)
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
    if not models.runtime_installed():
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
    specs = [f"{n}={models.model_path(n)}:{EMBEDDED[n].style}:{EMBEDDED[n].n_ctx}" for n in names]
    log_file = runtime_dir() / f"runtime-{port}.log"
    cmd = [sys.executable, "-m", MAIN_MODULE, "worker", "--host", host, "--port", str(port),
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


