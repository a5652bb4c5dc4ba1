"""What a model is sent: the request's messages, after the document's conversation — the
exchanges kept so a follow-up ("more detail", "that broke X") has them on any model. The turns
are plain user/assistant messages, so they carry over to any provider; litellm maps the system
prompt to each provider's own form."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from routerls import actions as actions_mod
from routerls import context as context_mod
from routerls.actions import Action
from routerls.config import ModelEntry
from routerls.context import Context, estimate_tokens

MAX_TURNS = 8  # exchanges kept per document for follow-ups
OUTPUT_RESERVE_TOKENS = 1024  # of the model's window, kept for its answer


@attrs.frozen
class Turn:
    """One exchange of a document's conversation, kept so a follow-up has it on any model."""

    action: str
    user: str
    assistant: str
    model: str


class Transcripts:
    """Each open document's last `MAX_TURNS` exchanges, by path."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[Turn]] = {}

    def remember(self, path: str, action: str, sent, completion) -> None:
        """Keep the exchange: what was asked (the last user message of `sent`) and the answer."""
        if isinstance(sent, list):
            user = next((m["content"] for m in reversed(sent) if m.get("role") == "user"), "")
        else:
            user = str(sent or "")
        turns = self._by_path.setdefault(path, [])
        turns.append(Turn(action, user, completion.text, completion.entry.model))
        del turns[:-MAX_TURNS]

    def history(self, path: str) -> Sequence[Turn]:
        return self._by_path.get(path, ())

    def last_action(self, path: str) -> str | None:
        turns = self._by_path.get(path)
        return turns[-1].action if turns else None

    def forget(self, path: str) -> None:
        """The document was closed: its conversation ends."""
        self._by_path.pop(path, None)


def with_history(messages: list[dict[str, str]], history: Sequence[Turn],
                 budget: int) -> list[dict[str, str]]:
    """`messages` (system first) with the earlier turns before the request, oldest dropped
    first until all of it fits `budget` tokens."""
    if not history:
        return messages
    turns = list(history)
    used = sum(estimate_tokens(m["content"]) for m in messages)
    while turns and used + sum(estimate_tokens(t.user + t.assistant) for t in turns) > budget:
        turns.pop(0)
    earlier = [m for t in turns for m in ({"role": "user", "content": t.user},
                                          {"role": "assistant", "content": t.assistant})]
    return [messages[0], *earlier, *messages[1:]]


def messages_for(action: Action, context: Context, instruction: str | None, entry: ModelEntry,
                 history: Sequence[Turn] = ()) -> list[dict[str, str]]:
    """The prompt for one model: the context trimmed to that model's window, after the
    document's earlier turns (oldest dropped first) when this is a follow-up."""
    from routerls.backends import litellm as gateway

    budget = max(gateway.context_window(entry) - OUTPUT_RESERVE_TOKENS, 512)
    ctx = context_mod.trim(context, max(budget // 2, 512) if history else budget)
    messages = actions_mod.messages(action, context_mod.render(ctx), instruction)
    return with_history(messages, history, budget)
