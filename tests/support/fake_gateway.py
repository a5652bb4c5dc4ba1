"""The engine's edge, scripted: a stand-in for `gateway.complete` given to `Engine(complete=...)`.

Each model answers from its own script. The chain is walked as `gateway.complete` walks it: the
first model that answers wins, each try is reported to `on_attempt` as a `gateway.Attempt`, and
`GatewayError` comes when none answers. What the engine asked is kept for the tests: the chain
of each call, and each model asked with the prompt it was sent.
"""

from __future__ import annotations

import asyncio

import attrs

from routerls.backends import litellm as gateway


@attrs.frozen
class Answer:
    text: str
    input_tokens: int = 120
    output_tokens: int = 30


@attrs.frozen
class Fail:
    outcome: str = "server_error"
    error: str = "HTTP 503: overloaded"


@attrs.frozen
class Hang:
    """The call never ends by itself: a test cancels it."""


@attrs.frozen
class Asked:
    tier: str
    model: str
    prompt: object


class FakeGateway:
    def __init__(self) -> None:
        self.scripts: dict[str, list] = {}
        self.asked: list[Asked] = []
        self.chains: list[list[tuple[str, str]]] = []
        self.started = asyncio.Event()  # set when a `Hang` call begins
        self.during_call = None  # called as each model is asked, to look at the world mid-request

    def script(self, model: str, *steps) -> FakeGateway:
        self.scripts.setdefault(model, []).extend(steps)
        return self

    def models_asked(self) -> list[tuple[str, str]]:
        return [(a.tier, a.model) for a in self.asked]

    async def __call__(self, messages, chain, settings, *, on_token=None, max_tokens=None,
                       on_attempt=None, prompt_for=None):
        self.chains.append([(tier, entry.model) for tier, entry in chain])
        attempts: list[gateway.Attempt] = []

        def note(attempt: gateway.Attempt) -> None:
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

        for tier, entry in chain:
            prompt = prompt_for(entry) if prompt_for is not None else messages
            if prompt is None:
                continue
            self.asked.append(Asked(tier, entry.model, prompt))
            steps = self.scripts.get(entry.model)
            assert steps, f"the engine asked {entry.model}, which has nothing scripted"
            step = steps.pop(0)
            if self.during_call is not None:
                self.during_call()
            if isinstance(step, Hang):
                self.started.set()
                await asyncio.Event().wait()
            if isinstance(step, Fail):
                note(gateway.Attempt(tier, entry.model, step.outcome, step.error, 5.0))
                continue
            if on_token is not None:
                on_token(step.output_tokens)
            cost = gateway.cost_usd(entry, step.input_tokens, step.output_tokens)
            note(gateway.Attempt(tier, entry.model, "ok", None, 5.0, step.input_tokens,
                                 step.output_tokens, cost))
            return gateway.Completion(step.text, tier, entry, step.input_tokens, step.output_tokens,
                                      cost, 5.0, tuple(attempts))
        raise gateway.GatewayError(attempts)
