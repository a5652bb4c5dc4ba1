"""Critique and revise (`debate:` in the config) for a markdown task: one tier drafts, another
critiques the draft and writes the improved answer. Both calls are attempts the engine records;
a revision that fails still leaves the draft to show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from routerls.backends import availability
from routerls.config import Config, Debate, ModelEntry

CRITIQUE_PROMPT = (
    "Critique the answer above: list its weaknesses, risks and anything it missed. Then write "
    "the complete, improved answer. Use Markdown with the sections `## Critique` and "
    "`## Revised`.")

# (tier, model, messages to add after the request) → the prompt as it leaves
PromptFor = Callable[[str, ModelEntry, list[dict[str, str]]], Any]


@attrs.frozen
class Debated:
    text: str | None  # the revision, else the draft; None when not even a draft came back
    completion: Any  # gateway.Completion of the last call that answered
    notes: tuple[str, ...]  # what happened, for the result's reason (or its error message)


async def debate(config: Config, debate: Debate, complete: Callable[..., Awaitable[Any]],
                 prompt_for: PromptFor, attempts: list,
                 on_progress: Callable[[str, int], None] | None) -> Debated:
    """Draft on `debate.draft`, then critique and revise on `debate.revise`; every try is
    appended to `attempts`."""
    from routerls.backends import litellm as gateway

    notes: list[str] = []
    texts: list[str] = []
    completion = None
    for step, tier in (("draft", debate.draft), ("revise", debate.revise)):
        ready = await availability.prepare(config, tier, [(tier, m) for m in config.tiers[tier].models],
                                    pinned=True)
        notes += ready.notes

        def prompt(entry: ModelEntry, _tier: str = tier, _step: str = step):
            critique = [{"role": "assistant", "content": texts[0]},
                        {"role": "user", "content": CRITIQUE_PROMPT}] if _step == "revise" else []
            return prompt_for(_tier, entry, critique)

        def progress(tokens: int, _tier: str = tier, _step: str = step) -> None:
            if on_progress is not None:
                on_progress(f"{_step} on {_tier}", tokens)

        try:
            if not ready.chain:
                raise gateway.GatewayError(())
            completion = await complete([], ready.chain, config.gateway, on_token=progress,
                                        on_attempt=attempts.append, prompt_for=prompt)
        except gateway.GatewayError as exc:
            what = f"the {step} on {tier} failed ({exc})" if ready.chain else f"no model of {tier} can answer"
            if completion is None:
                return Debated(None, None, (*notes, what))
            notes.append(f"{what}; showing the draft")
            break
        texts.append(completion.text)
    notes.insert(0, f"debate: {debate.draft} drafted, {debate.revise} critiqued and revised")
    return Debated(texts[-1], completion, tuple(notes))
