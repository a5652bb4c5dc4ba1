"""The model a code action's title names is the one a run will use (no I/O on that path)."""

from routerls.config import DEFAULTS_PATH, load_config
from routerls.local import likely


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
