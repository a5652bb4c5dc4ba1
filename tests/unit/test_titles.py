"""The model a code action's title names is the one a run will use (no I/O on that path)."""

from routerls.backends.availability import likely
from routerls.layers import DEFAULTS_PATH, load_config


def test_title_model_skips_base_models_without_a_template_and_missing_keys():
    config = load_config(files=[DEFAULTS_PATH])
    # format: Gemma (completion) has no format template, so SmolLM2 serves
    assert likely(config, "local", "format", {})[1].name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert likely(config, "local", "docstring", {})[1].name == "gemma-3-270m-q4_k_m.gguf"
    # no ANTHROPIC_API_KEY: mid falls to the nearest lower tier that has its key…
    tier, entry = likely(config, "mid", "fix", {"OPENAI_API_KEY": "x"})
    assert (tier, entry.name) == ("cheap", "gpt-4o-mini")
    # …and with no keys at all, to local
    assert likely(config, "mid", "fix", {})[0] == "local"
    assert likely(config, "mid", "fix", {"ANTHROPIC_API_KEY": "x"})[1].name == "claude-haiku-4-5"


def test_route_says_what_will_run_on_this_machine(tmp_path, monkeypatch, capsys):
    import json

    from routerls.cli import main

    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "a.py").write_text("def f(x):\n    return x\n")
    assert main(["route", "refactor", str(tmp_path / "a.py"), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["tier"] == "mid"
    assert decision["runs_on"] == {"tier": "local", "model": "openai/SmolLM2-135M-Instruct.Q4_1.gguf"}
