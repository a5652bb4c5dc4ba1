"""How a failed litellm call is named, told and retried: exceptions → our outcomes, the error
text scrubbed of keys (it reaches logs and the ledger), and the wait before the next try."""

from __future__ import annotations

import asyncio
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

    from routerls.config import GatewaySettings, ModelEntry

OUTCOMES = ("ok", "rate_limited", "server_error", "timeout", "connection_error", "bad_response",
            "auth_error", "cancelled", "error")
RETRYABLE = frozenset({"rate_limited", "server_error", "connection_error"})
# A Retry-After longer than this means the model is out for now: move on rather than wait.
MAX_RETRY_AFTER_S = 10.0
MAX_BACKOFF_S = 30.0
# Local servers (llama.cpp, vLLM, LM Studio) ignore the key, but the OpenAI client insists on one.
DUMMY_KEY = "routerls-no-key"
KEY_LIKE = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}|\bAIza[0-9A-Za-z_\-]{20,}")


def scrub(text: str, entry: ModelEntry) -> str:
    """Drop the entry's key and anything key-shaped: error strings reach logs and the ledger."""
    secret = os.environ.get(entry.api_key_env) if entry.api_key_env else None
    if secret:
        text = text.replace(secret, "***")
    text = KEY_LIKE.sub("***", text)
    text = text.replace(DUMMY_KEY, "***")
    return text[:500]


def classify(exc: BaseException, lib: ModuleType) -> str:
    """Map litellm/openai/httpx exceptions onto our outcomes (`lib`: litellm, imported)."""
    from litellm.exceptions import MidStreamFallbackError

    original = getattr(exc, "original_exception", None)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, lib.Timeout)):
        return "timeout"
    if isinstance(exc, MidStreamFallbackError):
        if isinstance(original, lib.Timeout):
            return "timeout"
        if "Expecting" in str(exc) or "JSON" in str(exc):
            return "bad_response"
        return "connection_error"
    if isinstance(exc, (lib.AuthenticationError, lib.PermissionDeniedError)):
        return "auth_error"
    if isinstance(exc, lib.RateLimitError):
        return "rate_limited"
    if isinstance(exc, lib.APIConnectionError):
        return "bad_response" if "Expecting" in str(exc) else "connection_error"
    if _refused(exc):  # litellm reports a refused connection as a 500 "Connection error."
        return "connection_error"
    if isinstance(exc, (lib.InternalServerError, lib.ServiceUnavailableError, lib.BadGatewayError)):
        return "server_error"
    if isinstance(exc, (lib.APIResponseValidationError, ValueError)):
        return "bad_response"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        if status == 408:
            return "timeout"
        if status == 429:
            return "rate_limited"
        if status >= 500:
            return "server_error"
        if status in (401, 403):
            return "auth_error"
    return "error"


def _refused(exc: BaseException) -> bool:
    """Whether a connect failure lies anywhere in the exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError) or any(
                "Connect" in k.__name__ for k in type(current).__mro__):
            return True
        current = (getattr(current, "original_exception", None) or current.__cause__
                   or current.__context__)
    return "Connection error" in str(exc)


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header (seconds form only), if the error carries one."""
    headers: Any = getattr(getattr(exc, "response", None), "headers", None) or getattr(
        exc, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def detail(exc: BaseException, outcome: str, entry: ModelEntry, timeout_s: float) -> str:
    """What went wrong, for the ledger and the status line, with anything key-like scrubbed."""
    if outcome == "timeout" and not str(exc):
        return f"no complete answer within {timeout_s:g}s"
    if entry.command is not None:  # our own message, without litellm's wrapping
        return scrub(str(exc).split("CommandException - ", 1)[-1], entry)
    return scrub(f"{type(exc).__name__}: {exc}", entry)


def retry_wait(exc: BaseException, outcome: str, retry: int,
                settings: GatewaySettings) -> float | None:
    """Seconds to wait before trying the same model again, or None to move on to the next."""
    if outcome not in RETRYABLE or retry == settings.retries:
        return None
    wait = min(settings.backoff_s * 2 ** retry, MAX_BACKOFF_S)
    hinted = _retry_after(exc)
    if hinted is not None:
        if hinted > MAX_RETRY_AFTER_S:
            return None
        wait = max(wait, hinted)
    return wait
