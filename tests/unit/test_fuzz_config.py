"""Property tests for the config loader: no input — YAML text, structured settings, or LSP
settings — makes it crash; it either gives a Config or one located `ConfigError`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routerls.config import Config, ConfigError
from routerls.layers import DEFAULTS_PATH, load_config

pytestmark = pytest.mark.slow  # hypothesis runs each property a hundred times and more

FUZZ = settings(max_examples=75, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = ["strategy", "tiers", "tasks", "rules", "budgets", "gateway", "hover", "ledger", "actions",
        "tools", "redact", "local_only", "escalate", "models", "model", "api_base", "price",
        "input_per_mtok", "timeout_s", "match", "min_tokens", "tier", "at_least", "daily_usd",
        "on_exceed", "patterns", "enabled", "store_prompts", "name", "title", "task", "prompt",
        "result", "command", "local", "cheap", "mid", "frontier", "fix", "format", "python"]
SCALARS = (st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True)
           | st.sampled_from(["local", "cheap", "mid", "frontier", "balanced", "block", "(", "[a-",
                              "replace", "openai/x", ""]) | st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5),
                      max_leaves=25)
SETTINGS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


def _load_text(text: str) -> Config | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "routerls.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(files=[DEFAULTS_PATH, path])
        except ConfigError as exc:
            assert str(path) in str(exc)  # located
            return None


@FUZZ
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text):
    _load_text(text)


@FUZZ
@given(SETTINGS)
def test_any_settings_file_gives_a_config_or_a_config_error(data):
    _load_text(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(SETTINGS)
def test_any_lsp_settings_give_a_config_or_a_config_error(data):
    try:
        load_config(files=[DEFAULTS_PATH], overrides=data)
    except ConfigError:
        pass


@FUZZ
@given(st.sampled_from(["tiers", "tasks", "rules", "budgets", "gateway", "redact", "local_only",
                        "actions", "tools"]), VALUES)
def test_any_value_under_a_known_key(key, value):
    try:
        load_config(files=[DEFAULTS_PATH], overrides={key: value})
    except ConfigError:
        pass
