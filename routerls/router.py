"""Which tier (and so which models) runs an action, and why — `route`, a pure function made of
one pure function per stage.

Precedence, low → high: the task's tier from `tasks:` (`task_tier`), the first matching rule
(`by_rule`), the strategy shift (`by_strategy`; cost: one tier down, quality: one up), what the
user keeps (`by_learning`, `route.learn`: the estimates of `learning.py` are an input, so this
stays pure), an explicit tag or `tier` argument (`by_explicit`), and last the budget
(`within_budget`; `downgrade` steps down until the estimate fits; `block` refuses; `warn` only says so).
An explicit tier beats everything but a `block` budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from routerls.money import money

if TYPE_CHECKING:
    from routerls.config import Config, ModelEntry
    from routerls.learning import Estimates

TAGS = {"@local": "local", "@cheap": "cheap", "@mid": "mid", "@frontier": "frontier",
        "@fast": "cheap", "@heavy": "frontier"}
_TAG_RE = re.compile(r"(?<!\S)@(local|cheap|mid|frontier|fast|heavy)\b")

PriceOf = Callable[["ModelEntry"], "tuple[float, float] | None"]  # $ per million tokens (in, out)
# what a stage of `route` leaves: (tier, why, which setting decided: "tasks.fix", "rules[0]", …);
# a plain tuple, as a decision must stay well under 50 µs
Choice = tuple[str, str, "str | None"]


TOOLS_TIER = "tools"


class RouteError(ValueError):
    """The request names something that does not exist (a tier, a task)."""


@attrs.frozen
class Spend:
    today_usd: float = 0.0
    month_usd: float = 0.0


@attrs.frozen
class RouteDecision:
    tier: str
    models: tuple[ModelEntry, ...]
    reason: str
    rule: str | None = None  # which setting decided: "tasks.fix", "rules[0]", "tag @mid", …
    pinned: bool = False  # the user chose the tier: no fallback to other tiers
    blocked: bool = False  # refused by budget; nothing may be called
    estimated_usd: float | None = None
    tool: str | None = None  # the program, when the `tools` tier serves

    @property
    def model(self) -> ModelEntry:
        return self.models[0]

    @property
    def model_name(self) -> str:
        """What titles and status show: the tool, or the first model's short name."""
        return self.tool or self.models[0].name


def parse_tags(instruction: str | None) -> tuple[str | None, str | None]:
    """(tier named by the last `@tag`, the instruction without tags)."""
    if not instruction or "@" not in instruction:
        return None, instruction
    found = _TAG_RE.findall(instruction)
    if not found:
        return None, instruction
    cleaned = " ".join(_TAG_RE.sub(" ", instruction).split())
    return TAGS["@" + found[-1]], cleaned or None


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(source: str) -> re.Pattern[str]:
    pat = _PATTERNS.get(source)
    if pat is None:
        pat = _PATTERNS[source] = re.compile(source)
    return pat


def _shift(order: Sequence[str], tier: str, steps: int) -> str:
    i = min(max(order.index(tier) + steps, 0), len(order) - 1)
    return order[i]


def estimate_usd(entry: ModelEntry, tokens_in: int, tokens_out: int, price_of: PriceOf | None) -> float | None:
    """Cost of one call at the entry's price; None when its price is unknown."""
    price = (entry.price.input_per_mtok, entry.price.output_per_mtok) if entry.price else None
    if price is None and price_of is not None:
        price = price_of(entry)
    if price is None:
        return None
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def route(
    config: Config,
    task: str,
    *,
    text: str = "",
    tokens: int = 0,
    tier: str | None = None,
    instruction: str | None = None,
    spend: Spend = Spend(),
    price_of: PriceOf | None = None,
    expected_output_tokens: int | None = None,
    tool: str | None = None,
    tool_note: str | None = None,
    classified: tuple[str, str] | None = None,
    learned: Estimates | None = None,
) -> RouteDecision:
    """Decide the tier for one request: the stages of the module doc, in order.

    `match` rules read what the user asked — the instruction and `text` (the engine passes the
    action's name) — not the selected code: a variable called `design` must not buy a frontier
    call, and matching never scans a 20 000-line selection. Size is what `min_tokens` is for.

    `tool` names a program of the `tools` tier that can serve this request (the caller checked
    it is found and, for `fix`, that it fixes every diagnostic); it wins unless the user chose a
    tier. `tool_note` says why a configured tool cannot serve ("ruff not found").

    `classified` is (tier, why) from the instruction classifier (`route.classifier`): it replaces
    the task's tier, and the rules, the strategy and explicit choices still win over it.

    `learned` holds the workspace's success estimates (`route.learn: on`); see `_learned`.
    """
    tag_tier, _ = parse_tags(instruction)
    if tier is not None and tier not in config.tiers:
        raise RouteError(f"unknown tier {tier!r}; allowed: {', '.join(config.tier_order)}")
    choice = task_tier(config, task, classified)
    choice, floor, fixed = by_rule(config, choice, f"{instruction}\n{text}" if instruction else text,
                                   tokens)
    choice = by_strategy(config, choice)
    if learned is not None and not fixed and (tier or tag_tier) is None:
        choice = by_learning(config.tier_order, choice, task, learned, floor)
    choice, pinned = by_explicit(config, choice, tier, tag_tier)
    if tool is not None and not pinned:
        return RouteDecision(TOOLS_TIER, (), f"{tool}: deterministic, $0", "tools", tool=tool,
                             estimated_usd=0.0)
    chosen, reason, rule_id = choice
    if tool_note:
        reason = f"{tool_note}; {reason}"
    return within_budget(config, RouteDecision(chosen, config.tiers[chosen].models, reason, rule_id, pinned),
                         tokens, spend, price_of, expected_output_tokens)


def task_tier(config: Config, task: str, classified: tuple[str, str] | None) -> Choice:
    """Stage 1: the task's tier from `tasks:`, or the classifier's when it names a tier."""
    chosen = config.tasks.get(task)
    if chosen is None:
        raise RouteError(f"no tier configured for task {task!r} (set `tasks.{task}`)")
    if classified is not None and classified[0] in config.tiers:
        return classified[0], classified[1], "route.classifier"
    return chosen, f"{task} goes to {chosen} by default", f"tasks.{task}"


def by_rule(config: Config, choice: Choice, haystack: str, tokens: int) -> tuple[Choice, int, bool]:
    """Stage 2: the first matching rule sets the tier (`tier:`) or raises it (`at_least:`).
    Also returns what the rule leaves to learning: the floor's index, and whether it fixed the
    tier."""
    order = config.tier_order
    for i, rule in enumerate(config.rules):
        if rule.match is not None and not _pattern(rule.match).search(haystack):
            continue
        if rule.min_tokens is not None and tokens < rule.min_tokens:
            continue
        why = (f"it mentions “{_pattern(rule.match).search(haystack).group(0)}”"  # type: ignore[union-attr]
               if rule.match is not None else f"it is large (~{tokens} tokens)")
        if rule.tier is not None:
            return (rule.tier, f"{why}, so {rule.tier} (rule {i + 1})", f"rules[{i}]"), 0, True
        if rule.at_least is None:
            break
        floor = order.index(rule.at_least)
        if order.index(choice[0]) < floor:
            choice = (rule.at_least, f"{why}, so at least {rule.at_least} (rule {i + 1})", f"rules[{i}]")
        return choice, floor, False
    return choice, 0, False


def by_strategy(config: Config, choice: Choice) -> Choice:
    """Stage 3: the strategy shift — cost one tier down, quality one up."""
    if config.strategy == "balanced":
        return choice
    chosen, reason, rule_id = choice
    shifted = _shift(config.tier_order, chosen, -1 if config.strategy == "cost" else 1)
    if shifted == chosen:
        return choice
    return shifted, f"{reason}; {config.strategy} strategy moves it to {shifted}", rule_id


def by_learning(order: Sequence[str], choice: Choice, task: str, learned: Estimates,
                floor: int) -> Choice:
    """Stage 3b: what the user keeps (`_learned`), never below a rule's `at_least` floor; the
    caller skips it after a rule's `tier:` or an explicit choice. The answer is kept on
    `learned` per (task, tier), so a warm server pays for it once."""
    chosen = choice[0]
    if chosen not in order:
        return choice
    key = (order, task, chosen, floor)
    moved = learned.moves.get(key, False)
    if moved is False:
        moved = learned.moves[key] = _learned(order, chosen, task, learned, floor)
    return choice if moved is None else (moved[0], moved[1], "route.learn")


def by_explicit(config: Config, choice: Choice, tier: str | None,
                tag_tier: str | None) -> tuple[Choice, bool]:
    """Stage 4: a `tier` argument, else a tag in the instruction, wins; returns whether the
    user pinned the tier (no fallback to other tiers)."""
    explicit = tier or tag_tier
    if explicit is None:
        return choice, False
    if explicit not in config.tiers:
        raise RouteError(f"unknown tier {explicit!r}; allowed: {', '.join(config.tier_order)}")
    how = "you asked for" if tier is not None else "your tag asks for"
    return (explicit, f"{how} {explicit}", "tier argument" if tier else "tag"), True


def within_budget(config: Config, decision: RouteDecision, tokens: int, spend: Spend,
                  price_of: PriceOf | None = None, expected_output_tokens: int | None = None) -> RouteDecision:
    """Stage 5, the budget: `decision` as the budget lets it run given `spend` — unchanged,
    downgraded, or blocked (see the module doc). Run again on fresh spend when a request
    reserves its money (engine `_reserve`), so a decision made before other requests settled
    still cannot overspend."""
    if decision.blocked or decision.tier not in config.tiers:
        return decision
    chosen, reason, rule_id, pinned = decision.tier, decision.reason, decision.rule, decision.pinned
    order = config.tier_order
    b = config.budgets
    limits = [(name, limit - used) for name, limit, used in
              (("daily", b.daily_usd, spend.today_usd), ("monthly", b.monthly_usd, spend.month_usd))
              if limit is not None]
    out_tokens = expected_output_tokens if expected_output_tokens is not None else max(256, tokens // 2)
    estimate = estimate_usd(config.tiers[chosen].models[0], tokens, out_tokens, price_of)
    blocked = False
    if limits:
        which, remaining = min(limits, key=lambda kv: kv[1])

        def fits(est: float | None) -> bool:
            # an unknown price fits while money is left; only a free model fits once it is gone
            return est == 0.0 or (remaining > 0 and (est is None or est <= remaining))

        if not fits(estimate):
            if b.on_exceed == "block":
                blocked = True
                left = money(max(remaining, 0.0))
                reason = (f"{which} budget: {left} left, and {chosen} would cost "
                          f"{'an unknown amount' if estimate is None else '~' + money(estimate)}; refused")
            elif b.on_exceed == "warn" or pinned:
                reason += f"; over the {which} budget ({'warn only' if not pinned else 'kept: you chose it'})"
            elif not pinned:
                start = chosen
                i = order.index(chosen)
                while i > 0 and not fits(estimate):
                    i -= 1
                    estimate = estimate_usd(config.tiers[order[i]].models[0], tokens, out_tokens, price_of)
                chosen = order[i]
                if chosen != start:
                    reason = (f"{which} budget nearly spent ({money(max(remaining, 0.0))} left), "
                              f"so {chosen} instead of {start}")
                    rule_id = "budgets.on_exceed"
                if not fits(estimate):
                    blocked = True
                    reason = f"{which} budget spent ({money(max(remaining, 0.0))} left) and no tier fits; refused"
    models = decision.models if chosen == decision.tier else config.tiers[chosen].models
    return attrs.evolve(decision, tier=chosen, models=models, reason=reason, rule=rule_id,
                        blocked=blocked, estimated_usd=estimate)


def _learned(order: Sequence[str], chosen: str, task: str, learned: Estimates,
             floor: int) -> tuple[str, str] | None:
    """Up while the tier's estimate is clearly below the target (even mean + one sd is) with
    enough evidence; else down while the cheaper tier's estimate meets it with enough evidence
    (never below `floor`). The gap between the two rules keeps a task class from flapping.

    A tier nobody routes to gets no evidence, so while the tier meets the target and the one
    below is untried or plausibly good (mean + one sd reaches the target), one request in
    `probe_every` goes there; which one is a function of the counts (edits still pending
    included, so a probe is not repeated while its outcome is awaited), so this stays pure.
    Probing stops by itself once the evidence says the cheaper tier falls short."""
    target, enough = learned.target, learned.min_evidence
    i = order.index(chosen)
    here = learned.get(task, chosen)
    if here.evidence >= enough and here.upper < target:
        j = i
        while j + 1 < len(order):
            j += 1
            above = learned.get(task, order[j])
            if not (above.evidence >= enough and above.upper < target):
                break
        if j == i:
            return None
        return order[j], f"learned: {here.says(chosen, task)}; {order[j]} instead of {chosen}"
    j = i
    while j - 1 >= floor:
        below = learned.get(task, order[j - 1])
        if not (below.evidence >= enough and below.mean >= target):
            break
        j -= 1
    if j > i - 1 >= floor and learned.probe_every and here.evidence >= enough and here.mean >= target:
        below = learned.get(task, order[i - 1])
        if (below.evidence == 0 or below.upper >= target) \
                and (here.seen + here.pending + below.seen + below.pending) % learned.probe_every \
                == learned.probe_every - 1:
            return order[i - 1], (f"learned: trying {order[i - 1]} on 1 in {learned.probe_every} {task} "
                                  f"requests ({below.says(order[i - 1], task)}; "
                                  f"{here.says(chosen, task)}); {order[i - 1]} instead of {chosen}")
    if j == i:
        return None
    return order[j], f"learned: {learned.get(task, order[j]).says(order[j], task)}; {order[j]} instead of {chosen}"


def chain(config: Config, decision: RouteDecision) -> list[tuple[str, ModelEntry]]:
    """The (tier, model) pairs to try in order: the tier's models, then — unless the user
    pinned the tier — each stronger tier's models."""
    order = config.tier_order
    tiers = [decision.tier] if decision.pinned else list(order[order.index(decision.tier):])
    return [(t, m) for t in tiers for m in config.tiers[t].models]


def strongest(config: Config) -> ModelEntry:
    """The model whose price the savings are measured against."""
    return config.tiers[config.tier_order[-1]].models[0]
