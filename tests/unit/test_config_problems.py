"""Each config class checks its own values (`problems()`); `Config.problems()` lists them all in
one fixed order, and loading raises the first, located."""

import attrs
import pytest

from routerls.config import Budgets, ConfigError, ModelEntry, Price, Rule, Tier, UserAction
from routerls.layers import DEFAULTS_PATH, load_config


def test_every_problem_is_listed_in_order_and_loading_raises_the_first(tmp_path):
    defaults = load_config(files=[DEFAULTS_PATH])
    assert list(defaults.problems()) == []
    bad = attrs.evolve(defaults, strategy="cheapest", budgets=Budgets(daily_usd=-1.0),
                       rules=(Rule(min_tokens=5, at_least="giant"),),
                       actions=(UserAction(name="Bad", title="t", task="nope", prompt="p"),))
    assert list(bad.problems()) == [
        ("strategy", "unknown strategy 'cheapest'; allowed: cost, balanced, quality"),
        ("rules[0].at_least", "unknown tier 'giant'; allowed: local, cheap, mid, frontier"),
        ("budgets.daily_usd", "budget must be 0 or more, got -1.0"),
        ("actions[0].task", "unknown task 'nope'; allowed: format, docstring, explain, fix, tests, refactor, design"),
        ("actions[0].name", "use lowercase letters, digits, '-' and '_'"),
    ]
    f = tmp_path / "bad.yaml"
    f.write_text("budgets: {daily_usd: -1}\nrules: [{min_tokens: 5, at_least: giant}]\nstrategy: cheapest\n")
    with pytest.raises(ConfigError) as err:
        load_config(files=[DEFAULTS_PATH, f])
    assert (err.value.key, err.value.line) == ("strategy", 3)


def test_a_part_keys_its_problems_below_it():
    bad = ModelEntry(model="", input="pipe", price=Price(input_per_mtok=-1.0))
    assert list(Tier(models=(ModelEntry(model="a/b"), bad)).problems()) == [
        ("models[1]", "a model entry needs `model` (a litellm id) or `command` (a program)"),
        ("models[1].input", "unknown input 'pipe'; allowed: stdin, arg"),
        ("models[1].price", "prices must be 0 or more"),
    ]
