"""The tools tier: ruff formats and fixes before any model is asked, and steps aside cleanly."""

from __future__ import annotations

import ast
import subprocess

import pytest
from conftest import ledger_rows

from routerls.backends.tools import statement_lines, which
from routerls.cli import main
from routerls.text import Range

MESSY = """\
import os,sys
def area( w,h ):
    x = {  'w':w,'h':h }
    return w*h
class Box :
  def volume(self,d) :
      return [ i*2 for i in range(d) ]
print(undefined_name)
"""


def ruff_format(text: str) -> str:
    return subprocess.run([which("ruff"), "format", "-"], input=text, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def messy(project):
    path = project / "messy.py"
    path.write_text(MESSY)
    return path


def write_config(project, extra: str) -> None:
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text() + extra)


def test_format_whole_file_is_ruff_format_and_calls_no_model(messy, model_server, capsys):
    assert main(["run", "format", "messy.py:1-30", "--write"]) == 0
    assert messy.read_text() == ruff_format(MESSY)
    assert model_server.requests == []
    out = capsys.readouterr().out
    assert "tools · ruff 0.17.6 · ruff: deterministic, $0" in out and "$0.0000" in out
    [row] = ledger_rows()
    assert (row.tier, row.model, row.input_tokens, row.output_tokens, row.cost_usd, row.outcome) == (
        "tools", "ruff 0.17.6", 0, 0, 0.0, "ok")


def test_format_a_selection_touches_only_its_statements(messy, model_server):
    # lines 3-3 sit inside `area`: only that statement is formatted
    assert main(["run", "format", "messy.py:3-3", "--write"]) == 0
    assert messy.read_text() == MESSY.replace("x = {  'w':w,'h':h }", 'x = {"w": w, "h": h}')


def test_statement_lines_grow_a_partial_selection_to_whole_statements():
    text = "def f(a,\n      b):\n    if a:\n        return [\n            b]\n    return 0\nx = 1\n"
    # a selection from the middle of the `return [` statement into its second line
    assert statement_lines(text, Range.of(3, 12, 4, 3), "python") == (3, 4)
    # across the `if` and the final return: both whole statements of the body
    assert statement_lines(text, Range.of(2, 4, 5, 2), "python") == (2, 5)
    # no selection: the whole document
    assert statement_lines(text, Range.of(1, 0, 1, 0), "python") == (0, 7)


def test_fix_goes_to_ruff_only_where_ruff_can_fix_everything(messy, model_server, capsys):
    # line 1: unused imports, fixable → tools
    assert main(["run", "fix", "messy.py:1", "--write"]) == 0
    first = capsys.readouterr().out
    assert "tools · ruff 0.17.6 · ruff: deterministic, $0" in first
    assert messy.read_text() == MESSY.replace("import os,sys\n", "")
    assert model_server.requests == []
    # the undefined name has no autofix → the usual tier's model
    model_server.script("```python\nprint(area(2, 3))\n```", model="gpt-4o-mini")
    assert main(["run", "fix", "messy.py:7", "--write"]) == 0
    second = capsys.readouterr().out
    assert "cheap · gpt-4o-mini · fix goes to cheap by default" in second
    assert messy.read_text().endswith("print(area(2, 3))\n")
    assert "F821" in model_server.requests[-1].last_user
    assert [(r.tier, r.outcome) for r in ledger_rows()] == [("tools", "ok"), ("cheap", "ok")]


def test_explicit_tier_wins_over_the_tool(messy, model_server, capsys):
    model_server.script("```python\nimport os, sys\n```", model="tiny-local")
    assert main(["run", "format", "messy.py:1", "--tier", "local", "--write"]) == 0
    assert "local · tiny-local · you asked for local" in capsys.readouterr().out
    assert len(model_server.requests) == 1


def test_ruff_missing_from_path_falls_to_the_local_tier(messy, model_server, monkeypatch, capsys, tmp_path):
    model_server.script(f"```python\n{ruff_format(MESSY)}```", model="tiny-local")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("ROUTERLS_TOOLS_EXTRA_PATH", str(tmp_path / "empty-bin"))
    assert main(["run", "format", "messy.py:1-30", "--write"]) == 0
    out = capsys.readouterr().out
    assert "local · tiny-local · ruff not found; format goes to local by default" in out
    assert len(model_server.requests) == 1


def test_failing_tool_falls_through_with_its_stderr(messy, model_server, capsys):
    write_config(messy.parent, "tools:\n  format:\n    python: {name: broken, command: [sh, -c, 'echo cannot parse this >&2; exit 3']}\n")
    model_server.script(f"```python\n{ruff_format(MESSY)}```", model="tiny-local")
    assert main(["run", "format", "messy.py:1-30", "--write"]) == 0
    out = capsys.readouterr().out
    assert "broken format failed (sh exited 3: cannot parse this)" in out
    assert messy.read_text() == ruff_format(MESSY)
    rows = ledger_rows()
    assert [(r.tier, r.outcome) for r in rows] == [("tools", "error"), ("local", "ok")]
    assert "cannot parse this" in rows[0].error


def test_a_tool_that_changes_the_meaning_is_refused(messy, model_server, capsys):
    write_config(messy.parent, "tools:\n  format:\n    python: {name: liar, command: [sed, 's/w\\*h/w+h/']}\n")
    model_server.script(f"```python\n{ruff_format(MESSY)}```", model="tiny-local")
    assert main(["run", "format", "messy.py:1-30", "--write"]) == 0
    out = capsys.readouterr().out
    assert "liar changed what the code means (AST differs); not applied" in out
    assert ast.dump(ast.parse(messy.read_text())) == ast.dump(ast.parse(MESSY))


def test_route_shows_the_tool(messy, capsys):
    import json

    assert main(["route", "format", "messy.py:2-4", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["tier"], decision["tool"], decision["reason"]) == ("tools", "ruff", "ruff: deterministic, $0")
