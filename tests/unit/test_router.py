"""The routing decision: task, rules, strategy, tags, budgets — and the reason a user reads."""

import attrs
import pytest

from routerls.config import Budgets
from routerls.layers import DEFAULTS_PATH, load_config
from routerls.router import RouteError, Spend, chain, parse_tags, route

PRICES = {"local": (0.0, 0.0), "cheap": (0.1, 0.4), "mid": (1.0, 5.0), "frontier": (3.0, 15.0)}


@pytest.fixture
def config():
    return load_config(files=[DEFAULTS_PATH])


def price_of(config):
    by_model = {m.model: PRICES[t] for t, tier in config.tiers.items() for m in tier.models}
    return lambda entry: by_model.get(entry.model)


def test_task_maps_to_its_tier(config):
    d = route(config, "docstring")
    assert (d.tier, d.rule, d.pinned, d.blocked) == ("local", "tasks.docstring", False, False)
    assert d.reason == "docstring goes to local by default"
    assert d.models == config.tiers["local"].models


def test_regex_rule_sets_the_tier_and_says_why(config):
    d = route(config, "explain", instruction="what are the trade-offs here?")
    assert d.tier == "frontier" and d.rule == "rules[0]"
    assert d.reason == "it mentions “trade-offs”, so frontier (rule 1)"


def test_size_rule_only_raises(config):
    assert route(config, "format", tokens=7000).tier == "mid"
    assert route(config, "design", tokens=7000).tier == "frontier"  # already above `at_least`
    assert route(config, "format", tokens=5999).tier == "local"


def test_first_matching_rule_wins(config):
    d = route(config, "format", tokens=9000, instruction="design notes")
    assert d.tier == "frontier" and d.rule == "rules[0]"


@pytest.mark.parametrize(("strategy", "fix_tier", "design_tier", "format_tier"),
                         [("cost", "cheap", "mid", "local"), ("quality", "frontier", "frontier", "cheap"),
                          ("balanced", "mid", "frontier", "local")])
def test_strategy_shifts_one_tier(config, strategy, fix_tier, design_tier, format_tier):
    c = attrs.evolve(config, strategy=strategy)
    assert (route(c, "fix").tier, route(c, "design").tier, route(c, "format").tier) == (fix_tier, design_tier, format_tier)


@pytest.mark.parametrize(("instruction", "tier"), [("@local tidy", "local"), ("use @fast", "cheap"),
                                                    ("@heavy", "frontier"), ("go @mid please", "mid")])
def test_tags_win_over_rules_and_strategy(config, instruction, tier):
    c = attrs.evolve(config, strategy="quality")
    d = route(c, "design", instruction=instruction + " about architecture")
    assert d.tier == tier and d.pinned and d.rule == "tag"


def test_tier_argument_wins_and_unknown_tier_is_refused(config):
    assert route(config, "design", tier="local").tier == "local"
    with pytest.raises(RouteError, match="unknown tier 'huge'; allowed: local, cheap, mid, frontier"):
        route(config, "fix", tier="huge")


def test_parse_tags_strips_them_from_the_instruction():
    assert parse_tags("@mid make it faster") == ("mid", "make it faster")
    assert parse_tags("email me@mid.org") == (None, "email me@mid.org")
    assert parse_tags("@heavy") == ("frontier", None)


def test_downgrade_steps_down_until_the_estimate_fits(config):
    c = attrs.evolve(config, budgets=Budgets(daily_usd=2.0, monthly_usd=20.0, on_exceed="downgrade"))
    # ~2000 in / 1000 out: mid costs $0.007, cheap $0.0006; $0.001 left admits cheap
    d = route(c, "fix", tokens=2000, expected_output_tokens=1000, spend=Spend(1.999, 5.0), price_of=price_of(c))
    assert d.tier == "cheap" and not d.blocked and d.rule == "budgets.on_exceed"
    assert d.reason == "daily budget nearly spent ($0.0010 left), so cheap instead of mid"
    # nothing left: only the free tier fits
    d = route(c, "fix", tokens=2000, spend=Spend(2.5, 5.0), price_of=price_of(c))
    assert d.tier == "local" and not d.blocked


def test_block_refuses_before_any_call(config):
    c = attrs.evolve(config, budgets=Budgets(daily_usd=2.0, on_exceed="block"))
    d = route(c, "fix", tokens=2000, spend=Spend(1.999, 0), price_of=price_of(c))
    assert d.blocked and d.tier == "mid"
    assert d.reason.startswith("daily budget: $0.0010 left, and mid would cost ~$0.0")
    # block beats even an explicit tier
    assert route(c, "fix", tier="frontier", tokens=2000, spend=Spend(1.999, 0), price_of=price_of(c)).blocked
    # a free tier is never blocked
    assert not route(c, "format", tokens=2000, spend=Spend(5, 0), price_of=price_of(c)).blocked


def test_monthly_budget_counts_too_and_warn_only_warns(config):
    c = attrs.evolve(config, budgets=Budgets(daily_usd=None, monthly_usd=1.0, on_exceed="warn"))
    d = route(c, "fix", tokens=2000, spend=Spend(0, 1.0), price_of=price_of(c))
    assert d.tier == "mid" and not d.blocked and "over the monthly budget (warn only)" in d.reason


def test_explicit_tier_is_kept_under_downgrade(config):
    d = route(config, "fix", tier="frontier", tokens=2000, spend=Spend(2.5, 0), price_of=price_of(config))
    assert d.tier == "frontier" and not d.blocked and "kept: you chose it" in d.reason


def test_chain_falls_back_to_stronger_tiers_unless_pinned(config):
    d = route(config, "explain")
    assert [(t, m.model) for t, m in chain(config, d)] == [
        ("cheap", "gemini/gemini-2.0-flash"), ("cheap", "openai/gpt-4o-mini"),
        ("mid", "anthropic/claude-haiku-4-5"), ("frontier", "anthropic/claude-sonnet-4-5")]
    pinned = route(config, "explain", tier="cheap")
    assert [t for t, _ in chain(config, pinned)] == ["cheap", "cheap"]
