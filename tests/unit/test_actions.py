"""Which actions are offered where, and what they ask the model."""

from pathlib import Path

from routerls.actions import BUILTIN, QUICKFIX, all_actions, applicable, find, messages
from routerls.layers import DEFAULTS_PATH, load_config


def config_with(tmp_path: Path, text: str):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    return load_config(files=[DEFAULTS_PATH, f])


def test_fix_only_where_diagnostics_overlap():
    names = [a.name for a in applicable(BUILTIN, has_diagnostics=False)]
    assert names == ["explain", "tests", "refactor", "docstring", "format", "design"]
    assert applicable(BUILTIN, has_diagnostics=True)[0].name == "fix"


def test_kinds_follow_the_design_and_only_filters_by_prefix():
    kinds = {a.name: a.kind for a in BUILTIN}
    assert kinds == {"fix": "quickfix", "explain": "refactor", "tests": "source", "refactor": "refactor.rewrite",
                     "docstring": "refactor.rewrite", "format": "refactor.rewrite", "design": "refactor"}
    only_refactor = [a.name for a in applicable(BUILTIN, has_diagnostics=True, only=["refactor"])]
    assert only_refactor == ["explain", "refactor", "docstring", "format", "design"]
    assert [a.name for a in applicable(BUILTIN, has_diagnostics=True, only=[QUICKFIX])] == ["fix"]


def test_user_actions_sit_beside_builtins(tmp_path):
    config = config_with(tmp_path, "actions:\n  - {name: comments-en, title: Translate comments, task: format,"
                                   " prompt: Translate every comment to English., result: replace}\n")
    acts = all_actions(config)
    user = find(acts, "comments-en")
    assert user is not None and not user.builtin and user.task == "format" and user.kind == "refactor.rewrite"
    assert [a.name for a in acts][:7] == [a.name for a in BUILTIN]


def test_messages_carry_instruction_and_context():
    fix = find(BUILTIN, "fix")
    msgs = messages(fix, "CONTEXT", "keep it short")
    assert msgs[0]["role"] == "system"
    assert "Fix the problems" in msgs[1]["content"] and "keep it short" in msgs[1]["content"]
    assert msgs[1]["content"].endswith("CONTEXT")


def test_actions_module_does_not_import_litellm():
    import subprocess
    import sys

    code = "import routerls.actions, routerls.router, routerls.config, sys; print('litellm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True).stdout.strip() == "False"
