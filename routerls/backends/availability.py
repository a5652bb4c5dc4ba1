"""Which models of a chain can answer on this machine, for every backend, and what runs instead.

Before a request, `prepare` drops from the chain what cannot answer here, each with a reason the
status line shows: a cloud model whose key is not set ("no ANTHROPIC_API_KEY"), an Ollama model
when no Ollama answers, an embedded model when the local runtime is not installed (the runtime is
started here when it is). When that leaves nothing at or above the routed tier, the nearest usable
lower tier runs instead ("no ANTHROPIC_API_KEY: used local"), so a machine with no keys still
works, offline. `likely` makes the same guess without I/O, for code action titles.
"""

from __future__ import annotations

import asyncio
import os
import urllib.error
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from routerls.backends.local import models, runtime
from routerls.backends.local.models import EMBEDDED, INSTALL_HINT, LOOPBACK, LocalError, is_embedded
from routerls.backends.local.runtime import Runtime

if TYPE_CHECKING:
    from routerls.config import Config, ModelEntry

OLLAMA_URL = "http://127.0.0.1:11434"

# Cloud providers and the variable litellm reads their key from, for entries without api_key_env.
PROVIDER_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY",
                 "gemini": "GEMINI_API_KEY", "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY",
                 "deepseek": "DEEPSEEK_API_KEY", "openrouter": "OPENROUTER_API_KEY",
                 "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY",
                 "cohere": "COHERE_API_KEY", "fireworks_ai": "FIREWORKS_API_KEY"}


def is_ollama(entry: ModelEntry) -> bool:
    """Served by Ollama, through litellm's `ollama/` or `ollama_chat/` provider."""
    return entry.model.startswith(("ollama/", "ollama_chat/"))


def ollama_url() -> str:
    """`ROUTERLS_OLLAMA_URL`, else Ollama's own `OLLAMA_HOST`, else its usual port."""
    url = os.environ.get("ROUTERLS_OLLAMA_URL") or os.environ.get("OLLAMA_HOST") or OLLAMA_URL
    return url if "://" in url else f"http://{url}"


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
        if entry.api_base and (urlsplit(entry.api_base).hostname or "") in LOOPBACK:
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
                    got = runtime.status(base) or LocalError("the local runtime is not running")
                else:
                    # every embedded model the config serves there whose package is installed,
                    # so one start serves all tasks (a missing one is skipped below, with why)
                    names = [n for n in bases.get(base, ()) if models.package_dir(EMBEDDED[n].module)]
                    got = runtime.ensure_running(base, names or [entry.name])
            except LocalError as exc:
                got = exc
            runtimes[base] = got
        if isinstance(got, LocalError):
            return None, f"{entry.name}: {got}"
        if entry.name not in got.models:
            try:
                runtimes[base] = got = runtime.ensure_running(base, [*got.models, entry.name])
            except LocalError as exc:
                return None, f"{entry.name}: {exc}"
        return entry, None
    if is_ollama(entry):
        url = (entry.api_base or ollama_url()).rstrip("/")
        if url not in ollama:
            ollama[url] = ollama_answers(url)
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


def ollama_answers(url: str) -> bool:
    """Whether an Ollama server answers at `url` (its model list, within half a second)."""
    try:
        runtime.get_json(url + "/api/tags", timeout=0.5)
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
    bases = models.embedded_bases(config)
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
    started = next((r for r in runtimes.values() if isinstance(r, Runtime)), None)
    return Prepared(tuple(kept), tuple(notes), started)


async def prepare(config: Config, tier: str, chain: Sequence[tuple[str, ModelEntry]], *,
                  pinned: bool = False) -> Prepared:
    """`prepare_sync` off the event loop: probing and starting the runtime block for a while."""
    return await asyncio.to_thread(prepare_sync, config, tier, chain, pinned=pinned)


