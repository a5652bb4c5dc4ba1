"""The model-calling edge: stream one answer through litellm down a fallback chain, priced.

litellm is imported lazily (it takes seconds to import) so the server can answer `initialize` at
once and warm it in the background; `import routerls.backends.litellm` alone must stay cheap.
litellm's own retries are off: we retry here so every try is one `Attempt` the ledger can
record (`failures` names each failure and decides whether to try again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from routerls.backends import failures
from routerls.config import GatewaySettings, ModelEntry

if TYPE_CHECKING:
    from types import ModuleType

DEFAULT_CONTEXT_WINDOW = 8192


@attrs.frozen
class Attempt:
    """One try of one model; each becomes a ledger row."""

    tier: str
    model: str
    outcome: str
    error: str | None
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@attrs.frozen
class Completion:
    """The answer, the model that gave it, and every attempt (the successful one last)."""

    text: str
    tier: str
    entry: ModelEntry
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    attempts: tuple[Attempt, ...]
    estimated: bool = False  # tokens counted by us, not reported by the provider


class GatewayError(Exception):
    """Every model in the chain failed; `attempts` says how each one did."""

    def __init__(self, attempts: Sequence[Attempt]):
        self.attempts = tuple(attempts)
        if not self.attempts:
            message = "no model to call: the tier has no models configured"
        else:
            last = {}
            for a in self.attempts:  # the last failure per model tells the story
                last[a.model] = a
            parts = [f"{a.model} ({a.tier}): {a.outcome}" + (f" – {a.error}" if a.error else "")
                     for a in last.values()]
            message = (f"all {len(last)} model(s) failed after {len(self.attempts)} attempt(s): "
                       + "; ".join(parts) + ". Check the model names, API keys and api_base in "
                       "the routerls config, or try again later.")
        super().__init__(message)


# --- litellm, lazily ----------------------------------------------------------------------

_litellm: ModuleType | None = None
_litellm_lock = threading.Lock()  # `warm` on a thread and a first call may race to import it
log = logging.getLogger(__name__)


def _lib() -> ModuleType:
    """Import and quieten litellm once: bundled price map, no telemetry, no callbacks."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _litellm_lock:
        if _litellm is not None:
            return _litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        # litellm fetches the tokenizers of llama-2/-3 and cohere model names from the Hugging
        # Face hub; offline it counts their tokens with tiktoken instead (nothing leaves the machine)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        started = time.perf_counter()
        import litellm

        log.info("litellm loaded in %.1f s", time.perf_counter() - started)
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.success_callback = []
        litellm.failure_callback = []
        litellm.callbacks = []
        litellm.drop_params = True  # a local model that refuses stream_options still answers
        _litellm = litellm
        return litellm


_tokenizers_for: set[str] = set()  # model ids whose tokenizer `warm` has loaded


def warm(models: Iterable[str] = ()) -> None:
    """Import litellm, and load the tokenizers of `models` (the server calls this on a thread
    after start-up with the config's models). Otherwise the first call to each model counts
    tokens with a tokenizer not yet read: tiktoken's tables take up to a second of the event
    loop's thread, with no codeAction answered meanwhile (cl100k 40 MB, gpt-4o's o200k 70 MB)."""
    lib = _lib()
    with _litellm_lock:
        for model in dict.fromkeys(models):
            if model not in _tokenizers_for:
                with contextlib.suppress(Exception):  # a model litellm cannot count: at call time
                    lib.token_counter(model=model, messages=[{"role": "user", "content": "warm"}])
                _tokenizers_for.add(model)


async def loaded() -> None:
    """litellm imported, and no `warm` still loading tokenizers, without blocking the event
    loop: a run that comes while the warm thread is at work would otherwise wait for the lock on
    the loop's thread, and no codeAction or hover would be answered for those seconds."""
    if _litellm is None or _litellm_lock.locked():
        await asyncio.to_thread(warm)


# --- prices and limits --------------------------------------------------------------------

def price_per_mtok(entry: ModelEntry) -> tuple[float, float] | None:
    """(input, output) USD per million tokens: the config's override, else litellm's map."""
    if entry.price is not None:
        return entry.price.input_per_mtok, entry.price.output_per_mtok
    try:
        info = _lib().get_model_info(model=entry.model)
    except Exception:  # noqa: BLE001  # litellm raises a bare Exception for unmapped models
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if inp is None and out is None:
        return None
    return (inp or 0.0) * 1e6, (out or 0.0) * 1e6


def cost_usd(entry: ModelEntry, input_tokens: int, output_tokens: int) -> float:
    """USD for these tokens on `entry`. A model litellm does not know costs 0.0 (local models,
    custom names): the user can set `price:` on the entry to count it."""
    if entry.price is not None:
        return (input_tokens * entry.price.input_per_mtok
                + output_tokens * entry.price.output_per_mtok) / 1e6
    try:
        prompt, completion = _lib().cost_per_token(
            model=entry.model, prompt_tokens=input_tokens, completion_tokens=output_tokens)
    except Exception:  # noqa: BLE001  # unmapped model: free, as documented
        return 0.0
    return float(prompt) + float(completion)


def context_window(entry: ModelEntry) -> int:
    """Input tokens the model accepts: the config's value, else litellm's map, else 8192."""
    if entry.context_window:
        return entry.context_window
    try:
        info = _lib().get_model_info(model=entry.model)
    except Exception:  # noqa: BLE001  # unmapped model
        return DEFAULT_CONTEXT_WINDOW
    return int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_CONTEXT_WINDOW)


# --- calling ------------------------------------------------------------------------------

@attrs.frozen
class _Answer:
    text: str
    input_tokens: int
    output_tokens: int
    estimated: bool
    reported_cost: float | None = None  # what a gateway (a LiteLLM proxy) says the call cost


def _api_key(entry: ModelEntry) -> str | None:
    if entry.api_key_env and os.environ.get(entry.api_key_env):
        return os.environ[entry.api_key_env]
    return failures.DUMMY_KEY if entry.api_base else None  # None: litellm reads the provider's env var


def _text_model(entry: ModelEntry) -> str:
    """litellm's id for the plain-completion route of an OpenAI-compatible model."""
    provider, _, name = entry.model.partition("/")
    return f"text-completion-openai/{name}" if provider == "openai" and name else entry.model


async def _stream_once(messages: Any, entry: ModelEntry, timeout_s: float, max_tokens: int,
                       on_token: Callable[[int], None] | None) -> _Answer:
    """One streamed call; the timeout covers connect, first byte and the whole stream.

    `messages` is a chat message list, or for a `completion`-style entry a prompt object with
    `prompt`, `stop`, `max_tokens` and `finish(text)` (see `prompts.CompletionPrompt`): it goes to
    the plain-completion route and `finish` turns the continuation into the answer."""
    lib = _lib()
    if entry.command is not None:  # a command-line program, served by our litellm provider
        from routerls.backends import command

        command.register(entry)
    plain = None if isinstance(messages, list) else messages
    got = _Received()
    stream = None
    try:
        async with asyncio.timeout(timeout_s):
            stream = await _open_stream(lib, messages, plain, entry, timeout_s, max_tokens)
            async for chunk in stream:
                got.take(chunk, plain is not None, on_token)
    finally:
        await _close(stream)
    text = "".join(got.pieces)
    if plain is not None:
        messages = [{"role": "user", "content": plain.prompt}]  # for counting tokens below
        text = plain.finish(text)  # "" when unusable: an empty answer, the next model gets a go
    input_tokens, output_tokens, estimated = _tokens(lib, entry, messages, text, got.usage, stream)
    if on_token is not None and output_tokens > got.count:
        on_token(output_tokens)
    return _Answer(text, input_tokens, output_tokens, estimated, _reported_cost(got.usage, stream))


async def _open_stream(lib: ModuleType, messages: Any, plain: Any, entry: ModelEntry,
                       timeout_s: float, max_tokens: int) -> Any:
    """Start the streamed call: the plain-completion route for a prompt object, else chat."""
    common: dict[str, Any] = {
        "stream": True, "stream_options": {"include_usage": True}, "api_base": entry.api_base,
        "api_key": _api_key(entry), "timeout": timeout_s, "num_retries": 0, "max_retries": 0}
    if plain is not None:
        return await lib.atext_completion(
            model=_text_model(entry), prompt=plain.prompt, stop=list(plain.stop),
            max_tokens=min(max_tokens, plain.max_tokens), **common)
    return await lib.acompletion(model=entry.model, messages=messages, max_tokens=max_tokens,
                                 **common)


async def _close(stream: Any) -> None:
    if stream is not None and hasattr(stream, "aclose"):
        with contextlib.suppress(Exception):  # closing is best effort, a timeout included
            async with asyncio.timeout(1.0):
                await stream.aclose()


@attrs.define
class _Received:
    """What a stream has delivered so far, with a token count that rises as it streams."""

    pieces: list[str] = attrs.Factory(list)
    usage: Any = None
    count: int = 0
    chars: int = 0

    def take(self, chunk: Any, plain: bool, on_token: Callable[[int], None] | None) -> None:
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in chunk.choices or ():
            piece = (getattr(choice, "text", None) if plain
                     else getattr(choice.delta, "content", None))
            if piece:
                self.pieces.append(piece)
                self.chars += len(piece)
                # an estimate that rises with every chunk; usage corrects it at the end
                self.count = max(self.count + 1, math.ceil(self.chars / 4))
                if on_token is not None:
                    on_token(self.count)


def _tokens(lib: ModuleType, entry: ModelEntry, messages: Any, text: str, usage: Any,
            stream: Any) -> tuple[int, int, bool]:
    """(input, output, estimated): the provider's counts, else litellm's tokenizer's, else
    4 characters a token."""
    input_tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    output_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
    # litellm fills in usage itself when the provider sent none; its recorded raw chunks tell
    # whether the provider's own count was among them
    reported = any(getattr(c, "usage", None) is not None for c in getattr(stream, "chunks", ()))
    estimated = not reported or (not input_tokens and not output_tokens) or entry.command is not None
    if not input_tokens and not output_tokens:
        try:
            input_tokens = lib.token_counter(model=entry.model, messages=messages)
            output_tokens = lib.token_counter(model=entry.model, text=text) if text else 0
        except Exception:  # noqa: BLE001  # an unknown tokenizer: 4 characters a token is the usual rule
            input_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
            output_tokens = math.ceil(len(text) / 4)
    return int(input_tokens or 0), int(output_tokens or 0), estimated


def _reported_cost(usage: Any, stream: Any) -> float | None:
    """The spend a LiteLLM proxy reports: `usage.cost` in the final streamed chunk, else its
    `x-litellm-response-cost` header (which is 0 on a streamed reply: known only at the end)."""
    value = getattr(usage, "cost", None) if usage is not None else None
    if value is None:
        headers = (getattr(stream, "_hidden_params", None) or {}).get("additional_headers") or {}
        value = headers.get("llm_provider-x-litellm-response-cost")
    try:
        cost = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return cost if cost is not None and cost > 0 else None


async def complete(messages: list[dict], chain: Sequence[tuple[str, ModelEntry]],
                   settings: GatewaySettings, *, on_token: Callable[[int], None] | None = None,
                   max_tokens: int | None = None,
                   on_attempt: Callable[[Attempt], None] | None = None,
                   prompt_for: Callable[[ModelEntry], Any] | None = None) -> Completion:
    """Try each (tier, entry) of `chain` in order until one gives a non-empty answer.

    `prompt_for(entry)`, when given, replaces `messages` per model: chat messages, a completion
    prompt for a `completion`-style model, or None to pass over a model that cannot do the task
    (a base model has no template for it); a passed-over model is not an attempt.

    Rate limits, 5xx and connection failures retry the same model up to `settings.retries` times
    with exponential backoff (a short Retry-After is honoured, a long one skips the model);
    timeouts, bad or empty answers and auth errors move straight to the next model. Cancellation
    propagates at once and records nothing: the caller owns that; `on_attempt` lets it see the
    attempts finished before the cancel.
    """
    attempts: list[Attempt] = []
    started = time.monotonic()

    def note(attempt: Attempt) -> None:
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)

    for tier, entry in chain:
        prompt = prompt_for(entry) if prompt_for is not None else messages
        if prompt is None:
            continue
        tried = await _try_model(prompt, tier, entry, settings,
                                 max_tokens or settings.max_output_tokens, on_token, note)
        if tried is None:
            continue
        answer, latency = tried
        if not answer.text.strip():
            cost = cost_usd(entry, answer.input_tokens, answer.output_tokens)
            note(Attempt(tier, entry.model, "bad_response", "the model returned an empty answer",
                         latency, answer.input_tokens, answer.output_tokens, cost))
            continue
        # the config's `price:` is the user's word and wins; else what a gateway (a LiteLLM
        # proxy) reports it charged; else litellm's price map
        cost = (answer.reported_cost if answer.reported_cost is not None and entry.price is None
                else cost_usd(entry, answer.input_tokens, answer.output_tokens))
        note(Attempt(tier, entry.model, "ok", None, latency, answer.input_tokens,
                     answer.output_tokens, cost))
        return Completion(text=answer.text, tier=tier, entry=entry,
                          input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
                          cost_usd=cost, latency_ms=(time.monotonic() - started) * 1000,
                          attempts=tuple(attempts), estimated=answer.estimated)
    raise GatewayError(attempts)


async def _try_model(prompt: Any, tier: str, entry: ModelEntry, settings: GatewaySettings,
                     max_tokens: int, on_token: Callable[[int], None] | None,
                     note: Callable[[Attempt], None]) -> tuple[_Answer, float] | None:
    """One model, retried as `complete` says: (its answer, the latency of the try that gave it
    in ms), or None when it failed for good. Each failed try is noted as an Attempt."""
    timeout_s = entry.timeout_s or settings.timeout_s
    for retry in range(settings.retries + 1):
        t0 = time.monotonic()
        try:
            answer = await _stream_once(prompt, entry, timeout_s, max_tokens, on_token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # every provider failure becomes an Attempt
            latency = (time.monotonic() - t0) * 1000
            outcome = failures.classify(exc, _lib())
            note(Attempt(tier, entry.model, outcome, failures.detail(exc, outcome, entry, timeout_s),
                         latency))
            wait = failures.retry_wait(exc, outcome, retry, settings)
            if wait is None:
                return None
            await asyncio.sleep(wait)
            continue
        return answer, (time.monotonic() - t0) * 1000
    return None
