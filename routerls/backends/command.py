"""Command-line programs as models: `{command: ["claude", "-p"], name: claude-cli}` in a tier.

Subscription plans (a Claude or ChatGPT plan) are reached through their command-line agents, not
an API key. Such a program is registered as a litellm custom provider (`command/<name>`), so the
gateway's fallbacks, streaming, timeouts and cost path stay one code path: the prompt goes to the
program's standard input (or, with `input: arg`, as its last argument), its standard output is
streamed back as the answer, and its tokens are estimated with litellm's `token_counter`.

The program runs in its own process group; a timeout or a cancel kills the whole group, so an
agent's children die with it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from routerls.config import COMMAND_PROVIDER as PROVIDER

if TYPE_CHECKING:
    from routerls.config import ModelEntry

_SPECS: dict[str, ModelEntry] = {}  # command model name → its entry
_registered = False
last_pids: dict[str, int] = {}  # model name → pid of its latest process (for tests and doctor)


def register(entry: ModelEntry) -> None:
    """Make `entry` callable as `command/<name>` through litellm (idempotent)."""
    global _registered
    _SPECS[entry.name] = entry
    if _registered:
        return
    import litellm

    litellm.custom_provider_map = [
        *[p for p in litellm.custom_provider_map if p.get("provider") != PROVIDER],
        {"provider": PROVIDER, "custom_handler": _handler()},
    ]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    _registered = True


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """Chat messages as one plain prompt: a command-line agent takes text, not roles."""
    parts = []
    for m in messages:
        content = m.get("content") or ""
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        role = m.get("role")
        parts.append(content if role == "user" else f"[{role}]\n{content}")
    return "\n\n".join(parts)


class ProgramError(Exception):
    """The program is missing (404), failed (424) or was too slow (408): the gateway moves on to
    the next model without retrying, since running the same program again rarely helps."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


async def run_stream(entry: ModelEntry, prompt: str, timeout_s: float) -> AsyncIterator[str]:
    """Yield the program's standard output as it arrives."""
    program = shutil.which(entry.command[0])
    if program is None:
        raise ProgramError(404, f"command model {entry.name!r}: program {entry.command[0]!r} not found on PATH")
    argv = [program, *entry.command[1:]]
    stdin_data = prompt.encode()
    if entry.input == "arg":
        argv.append(prompt)
        stdin_data = b""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    last_pids[entry.name] = proc.pid
    deadline = time.monotonic() + timeout_s
    try:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(stdin_data)
        await proc.stdin.drain()
        proc.stdin.close()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(proc.stdout.read(4096), left)
            if not chunk:
                break
            yield chunk.decode(errors="replace")
        err = await asyncio.wait_for(proc.stderr.read(), max(deadline - time.monotonic(), 0.1))
        code = await asyncio.wait_for(proc.wait(), max(deadline - time.monotonic(), 0.1))
        if code != 0:
            detail = err.decode(errors="replace").strip().splitlines()
            raise ProgramError(424, f"{os.path.basename(entry.command[0])} exited {code}"
                               + (f": {detail[-1][:300]}" if detail else ""))
    except TimeoutError:
        raise ProgramError(408, f"{os.path.basename(entry.command[0])} gave no complete answer within {timeout_s:g}s") from None
    finally:
        if proc.returncode is None:
            kill(proc.pid)
            await proc.wait()


def kill(pid: int) -> None:
    """Kill the program and everything it started."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _handler():
    """The litellm `CustomLLM` that runs command models (built on first use: importing litellm
    is slow, and only the gateway does it)."""
    import litellm
    from litellm import CustomLLM
    from litellm.llms.custom_llm import CustomLLMError

    class CommandLLM(CustomLLM):
        async def astreaming(self, model: str, messages: list, *args: Any, **kwargs: Any):
            entry = _SPECS.get(model.split("/", 1)[-1]) or _SPECS.get(model)
            if entry is None:
                raise CustomLLMError(status_code=404, message=f"unknown command model {model!r}")
            timeout = kwargs.get("timeout")
            timeout_s = float(timeout) if isinstance(timeout, (int, float)) else 60.0
            prompt = prompt_text(messages)
            pieces: list[str] = []
            try:
                async for piece in run_stream(entry, prompt, timeout_s):
                    pieces.append(piece)
                    yield {"text": piece, "is_finished": False, "finish_reason": "", "usage": None,
                           "index": 0, "tool_use": None}
            except ProgramError as exc:
                raise CustomLLMError(status_code=exc.status_code, message=exc.message) from None
            text = "".join(pieces)
            prompt_tokens = litellm.token_counter(model="gpt-4o", text=prompt)
            completion_tokens = litellm.token_counter(model="gpt-4o", text=text) if text else 0
            yield {"text": "", "is_finished": True, "finish_reason": "stop", "index": 0, "tool_use": None,
                   "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}}

    return CommandLLM()
