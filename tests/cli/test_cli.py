"""`routerls run|route|report|doctor` end to end: real HTTP to the scripted model server through
litellm, a real SQLite ledger, the file on disk."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import litellm
import pytest
from conftest import FIXED_LINES, SAMPLE, ledger_rows
from modelserver import Reply

from routerls.cli import main
from routerls.ledger import Ledger, LedgerRow, default_path

FIXED_LINES_3_9 = FIXED_LINES


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fenced(code: str) -> str:
    return f"Here is the fix:\n```python\n{code}```\nThe comparison needed `==`."


def test_run_fix_writes_the_minimal_edit_and_records_litellm_price(project, model_server, capsys):
    model_server.script(Reply(fenced(FIXED_LINES_3_9), prompt_tokens=412, completion_tokens=57, chunks=5),
                        model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    assert (project / "sample.py").read_text() == SAMPLE.replace('shape = "circle"', 'shape == "circle"')
    out = capsys.readouterr().out
    assert "cheap · gpt-4o-mini · fix goes to cheap by default" in out and "412→57 tokens" in out

    [row] = ledger_rows()
    expected = sum(litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=412, completion_tokens=57))
    assert (row.tier, row.model, row.outcome, row.input_tokens, row.output_tokens) == (
        "cheap", "openai/gpt-4o-mini", "ok", 412, 57)
    assert abs(row.cost_usd - expected) < 1e-9 and expected > 0
    assert abs(row.counterfactual_usd - (412 * 2.5 + 57 * 10) / 1e6) < 1e-9
    # the model saw the diagnostic that made `fix` worth running
    assert "SyntaxError" in model_server.requests[-1].last_user


def test_run_without_write_prints_a_diff_and_leaves_the_file(project, model_server, capsys):
    model_server.script(fenced(FIXED_LINES_3_9), model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    out = capsys.readouterr().out
    assert '-    if shape = "circle":' in out and '+    if shape == "circle":' in out
    assert (project / "sample.py").read_text() == SAMPLE


def test_price_override_is_what_the_ledger_records(project, model_server):
    model_server.script(Reply("```python\ndef area(shape, size):\n    \"\"\"Area of a shape.\"\"\"\n```",
                              prompt_tokens=100, completion_tokens=20), model="gpt-4.1")
    assert main(["run", "design", "sample.py:3-3"]) == 0
    [row] = ledger_rows()
    assert row.tier == "frontier" and abs(row.cost_usd - (100 * 2.5 + 20 * 10) / 1e6) < 1e-9


def test_429_then_success_retries_the_same_model(project, model_server):
    model_server.script(Reply(status=429, retry_after=0), fenced(FIXED_LINES_3_9), model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    rows = ledger_rows()
    assert [(r.model, r.outcome, r.fallback_index) for r in rows] == [
        ("openai/gpt-4o-mini", "rate_limited", 0), ("openai/gpt-4o-mini", "ok", 1)]
    assert 'shape == "circle"' in (project / "sample.py").read_text()


def test_timeout_moves_to_the_next_model(project, model_server, capsys):
    model_server.script(Reply("too late", delay_first_byte=3), model="gpt-4o")
    model_server.script(fenced(FIXED_LINES_3_9), model="gpt-4.1-mini")
    assert main(["run", "fix", "sample.py:3-9", "--tier", "mid", "--write"]) == 0
    rows = ledger_rows()
    assert [(r.model, r.outcome) for r in rows] == [("openai/gpt-4o", "timeout"), ("openai/gpt-4.1-mini", "ok")]
    assert "fell back from openai/gpt-4o (timeout: no complete answer within 1s)" in capsys.readouterr().out
    assert 'shape == "circle"' in (project / "sample.py").read_text()


def test_dead_tier_falls_through_to_the_next_tier(project, model_server, capsys):
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace(
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}"}}',
        f'{{model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:{dead_port()}/v1"}}'))
    model_server.script(Reply(status=500), fenced(FIXED_LINES_3_9), model="gpt-4o")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    rows = ledger_rows()
    assert (rows[0].tier, rows[0].model) == ("cheap", "openai/gpt-4o-mini")
    assert {r.outcome for r in rows[:-1]} <= {"connection_error", "server_error"}
    assert (rows[-1].tier, rows[-1].model, rows[-1].outcome) == ("mid", "openai/gpt-4o", "ok")
    assert len({r.request_id for r in rows}) == 1
    assert 'shape == "circle"' in (project / "sample.py").read_text()
    assert "(planned cheap)" in capsys.readouterr().out


def test_pinned_tier_never_leaves_it(project, model_server, capsys):
    model_server.script(Reply(status=500), Reply(status=500), Reply(status=500), model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--tier", "cheap"]) == 1
    assert "every model failed" in capsys.readouterr().out
    assert {r.model for r in ledger_rows()} == {"openai/gpt-4o-mini"}
    assert (project / "sample.py").read_text() == SAMPLE


def test_prose_answer_is_rejected_and_escalates(project, model_server, capsys):
    model_server.script("I'm sorry, I can't help with that request.", model="gpt-4o-mini")
    model_server.script(fenced(FIXED_LINES_3_9), model="gpt-4o")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    rows = ledger_rows()
    assert [(r.model, r.outcome) for r in rows] == [("openai/gpt-4o-mini", "bad_output"), ("openai/gpt-4o", "ok")]
    assert "gpt-4o-mini's answer was rejected" in capsys.readouterr().out


def spend(amount: float) -> None:
    with Ledger(default_path()) as ledger:
        ledger.record([LedgerRow(request_id="earlier", session="s", action="fix", task="fix", tier="mid",
                                 model="openai/gpt-4o", cost_usd=amount)])


def test_budget_downgrade_picks_a_cheaper_tier_and_says_so(project, model_server, capsys):
    spend(1.9995)
    assert main(["route", "tests", "sample.py:3-9", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["tier"] in ("cheap", "local") and decision["rule"] == "budgets.on_exceed"
    assert decision["reason"].startswith("daily budget nearly spent")


def test_budget_block_refuses_before_any_model_is_called(project, model_server, capsys):
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace("on_exceed: downgrade", "on_exceed: block"))
    spend(2.5)
    assert main(["run", "fix", "sample.py:3-9"]) == 1
    out = capsys.readouterr().out
    assert "blocked" in out and "daily budget" in out and "refused" in out
    assert model_server.requests == []
    assert (project / "sample.py").read_text() == SAMPLE


def test_ollama_protocol_twin_through_litellm(project, model_server):
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace(
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}"}}',
        f'{{model: ollama_chat/qwen2.5-coder, api_base: "{model_server.ollama_url}"}}'))
    model_server.script(fenced(FIXED_LINES_3_9), model="qwen2.5-coder")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    assert 'shape == "circle"' in (project / "sample.py").read_text()
    assert model_server.requests[-1].api == "ollama"
    [row] = ledger_rows()
    assert row.model == "ollama_chat/qwen2.5-coder" and row.outcome == "ok"


def test_report_json_and_table(project, model_server, capsys):
    model_server.script(Reply(fenced(FIXED_LINES_3_9), prompt_tokens=1000, completion_tokens=100), model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    capsys.readouterr()
    assert main(["report", "--by", "model", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [row] = report["rows"]
    assert row["key"] == "gpt-4o-mini" and row["calls"] == 1
    assert abs(row["saved_usd"] - (row["counterfactual_usd"] - row["cost_usd"])) < 1e-12 and row["saved_usd"] > 0
    assert main(["report", "--by", "action"]) == 0
    assert "fix" in capsys.readouterr().out


def test_route_explains_without_calling_a_model(project, model_server, capsys):
    assert main(["route", "refactor", "sample.py:3-9", "--instruction", "@heavy weigh the trade-offs"]) == 0
    out = capsys.readouterr().out
    assert "frontier" in out and "your tag asks for frontier" in out
    assert model_server.requests == []


def test_doctor_names_keys_but_never_values(project, model_server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-1234567890")
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace(
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}"}}',
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}", api_key_env: OPENAI_API_KEY}}'))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "OPENAI_API_KEY: key set" in out and "sk-secret" not in out
    assert f"answers at {model_server.url}" in out


def test_unknown_action_and_missing_file_are_one_line_errors(project, capsys):
    assert main(["run", "frobnicate", "sample.py"]) == 2
    assert "unknown action 'frobnicate'; available: fix, explain" in capsys.readouterr().err
    assert main(["run", "fix", "nope.py:1"]) == 2
    assert "nope.py: No such file or directory" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_runs_end_to_end(project, model_server):
    """The console script, as a user types it."""
    model_server.script(fenced(FIXED_LINES_3_9), model="gpt-4o-mini")
    exe = Path(sys.executable).with_name("routerls")
    proc = subprocess.run([str(exe), "run", "fix", "sample.py:3-9", "--write"], check=False,
                          capture_output=True, text=True,
                          cwd=project, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'shape == "circle"' in (project / "sample.py").read_text()
    # what it waited for is said on stderr; stdout is the result only
    assert "litellm loaded in" in proc.stderr and "gpt-4o-mini is answering" in proc.stderr
    assert "litellm" not in proc.stdout and "answering" not in proc.stdout


def test_a_config_price_wins_over_litellms_map_for_a_known_model(project, model_server):
    cfg = project / "routerls.yaml"
    cfg.write_text(cfg.read_text().replace(
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}"}}',
        f'{{model: openai/gpt-4o-mini, api_base: "{model_server.url}", price: {{input_per_mtok: 1.0, output_per_mtok: 4.0}}}}'))
    model_server.script(Reply(fenced(FIXED_LINES_3_9), prompt_tokens=400, completion_tokens=50), model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    [row] = ledger_rows()
    assert abs(row.cost_usd - (400 * 1.0 + 50 * 4.0) / 1e6) < 1e-12
