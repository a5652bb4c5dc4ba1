"""Config layering and the one-line, located errors a user sees for bad settings."""

import subprocess
import sys
from pathlib import Path

import pytest

from routerls.config import ConfigError
from routerls.layers import DEFAULTS_PATH, load_config


def load(tmp_path: Path, text: str, name: str = ".routerls.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return load_config(files=[DEFAULTS_PATH, f]), f


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def test_defaults_need_no_user_file():
    config = load_config(files=[DEFAULTS_PATH])
    assert config.tier_order == ("local", "cheap", "mid", "frontier")
    assert config.tasks["fix"] == "mid" and config.tasks["design"] == "frontier"
    assert config.budgets.on_exceed == "downgrade"
    assert [m.model for m in config.tiers["cheap"].models] == ["gemini/gemini-2.0-flash", "openai/gpt-4o-mini"]


def test_layers_merge_dicts_and_replace_lists(tmp_path):
    config, _ = load(tmp_path, "strategy: cost\ntasks: {fix: cheap}\nrules:\n  - {min_tokens: 10, at_least: frontier}\n")
    assert config.strategy == "cost"
    assert config.tasks["fix"] == "cheap" and config.tasks["design"] == "frontier"  # merged
    assert len(config.rules) == 1 and config.rules[0].at_least == "frontier"  # replaced


def test_lsp_overrides_are_the_top_layer(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("strategy: cost\n")
    config = load_config(files=[DEFAULTS_PATH, f], overrides={"strategy": "quality", "hover": {"explain": True}})
    assert config.strategy == "quality" and config.hover.explain is True


def test_checks_tests_off_as_written_in_the_readme(tmp_path):
    """YAML reads an unquoted `off` as false; `checks.tests` takes the word, from a file or an editor."""
    config, _ = load(tmp_path, "checks: {tests: off}\n")
    assert config.checks.tests == "off"
    assert load_config(files=[DEFAULTS_PATH], overrides={"checks": {"tests": False}}).checks.tests == "off"
    assert load(tmp_path, "checks: {tests: on}\n")[0].checks.tests == "auto"
    assert "allowed: auto, off" in str(error(tmp_path, "checks: {tests: sometimes}\n"))


def test_workspace_and_env_layers_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / ".routerls.yaml").write_text("strategy: cost\n")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("budgets: {daily_usd: 1.5}\n")
    monkeypatch.setenv("ROUTERLS_CONFIG", str(env_file))
    config = load_config(tmp_path)
    assert config.strategy == "cost" and config.budgets.daily_usd == 1.5


def test_missing_routerls_config_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLS_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="nope.yaml.*cannot read"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ("strategy: cost\ntiers:\n  local:\n    models: [{model: x}\n", 4, "", "YAML syntax error"),
        ("strategy: cost\nbudgets:\n  daily_usd: 1\n  nightly_usd: 3\n", 4, "budgets.nightly_usd",
         "allowed: daily_usd, monthly_usd, on_exceed"),
        ("tasks:\n  fix: mid\n  docstring: huge\n", 3, "tasks.docstring", "unknown tier 'huge'; allowed: local, cheap, mid, frontier"),
        ("rules:\n  - {match: '(?i)ok', tier: mid}\n  - {match: 'a(b', tier: mid}\n", 3, "rules[1].match", "bad regular expression"),
        ("budgets:\n  on_exceed: block\n  daily_usd: -2\n", 3, "budgets.daily_usd", "budget must be 0 or more"),
        ("wibble: 1\n", 1, "wibble", "allowed: strategy, tiers"),
        ("tiers:\n  mine:\n    models:\n      - model: a/b\n        apibase: http://x\n", 5,
         "tiers.mine.models[0].apibase", "allowed: model, api_base"),
        ("rules:\n  - {min_tokens: 10, at_least: giant}\n", 2, "rules[0].at_least", "unknown tier 'giant'"),
        ("strategy: cheapest\n", 1, "strategy", "allowed: cost, balanced, quality"),
        ("budgets: {daily_usd: lots}\n", 1, "budgets.daily_usd", "expected float"),
        # an empty key (YAML's explicit-key mark alone, found by hypothesis) is located like any other
        ("strategy: cost\n?\n", 2, "", "unknown setting ''"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, line, key, says):
    err = error(tmp_path, text)
    assert err.file.endswith(".routerls.yaml")
    assert err.line == line
    assert err.key == key
    assert says in str(err)
    assert str(err).startswith(f"{err.file}:{line}: ")


def test_bad_config_from_cli_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / ".routerls.yaml").write_text("budgets:\n  daily_usd: -1\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    env = {"ROUTERLS_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin"}
    proc = subprocess.run([sys.executable, "-m", "routerls", "route", "fix", str(tmp_path / "a.py")],
                          check=False, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"routerls: {tmp_path / '.routerls.yaml'}:2: budgets.daily_usd: "
                                   "budget must be 0 or more, got -1.0")
