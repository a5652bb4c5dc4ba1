"""Command-line programs as models (subscription CLIs): real programs the test writes, run
through litellm's custom-provider path like any other model."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from conftest import SAMPLE, ledger_rows

from routerls.cli import main
from routerls.engine import Engine
from routerls.layers import load_config
from routerls.ledger import Ledger, default_path
from routerls.request import RunRequest
from routerls.text import Range

FIXED = 'def area(shape, size):\n    if shape == "circle":\n        return math.pi * size ** 2\n' \
        '    if shape == "square":\n        return size * size\n    raise ValueError(shape)\n'


def program(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def programs(project):
    bin_dir = project / "bin"
    bin_dir.mkdir()
    (bin_dir / "answer.txt").write_text(f"Sure, here it is:\n```python\n{FIXED}```\n")
    return {
        "fixer": program(bin_dir / "fixer", f"cat > {bin_dir}/prompt.txt\ncat {bin_dir}/answer.txt\n"),
        "sleeper": program(bin_dir / "sleeper", f"echo $$ > {bin_dir}/sleeper.pid\ncat > /dev/null\nsleep 30\n"),
        "failer": program(bin_dir / "failer", "cat > /dev/null\necho 'plan limit reached, try tomorrow' >&2\nexit 3\n"),
        "dir": bin_dir,
    }


def use_tiers(project, cheap: str, mid: str) -> None:
    cfg = project / "routerls.yaml"
    text = cfg.read_text()
    start, end = text.index("  cheap:"), text.index("  frontier:")
    cfg.write_text(text[:start] + f"  cheap:\n    models: [{cheap}]\n  mid:\n    models: [{mid}]\n" + text[end:])


def test_timeout_nonzero_and_missing_fall_through_to_a_program_that_answers(project, programs, model_server, capsys):
    use_tiers(project,
              cheap=f"{{command: [no-such-agent, -p], name: ghost}}, {{command: [{programs['failer']}], name: failer}},"
                    f" {{command: [{programs['sleeper']}], name: sleeper, timeout_s: 1}}",
              mid=f"{{command: [{programs['fixer']}], name: fixer}}")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    assert (project / "sample.py").read_text() == SAMPLE.replace('shape = "circle"', 'shape == "circle"')
    rows = ledger_rows()
    assert [(r.model, r.outcome) for r in rows] == [
        ("command/ghost", "error"), ("command/failer", "error"), ("command/sleeper", "timeout"),
        ("command/fixer", "ok")]
    assert rows[0].error == "command model 'ghost': program 'no-such-agent' not found on PATH"
    assert rows[1].error.endswith("failer exited 3: plan limit reached, try tomorrow")
    ok = rows[-1]
    assert ok.estimated and ok.cost_usd == 0.0 and ok.input_tokens > 50 and ok.output_tokens > 10
    assert "plan limit reached" in capsys.readouterr().out  # the reason names the failure
    # the prompt went to the program's standard input
    assert "Fix the problems" in (programs["dir"] / "prompt.txt").read_text()
    assert model_server.requests == []


def test_cancel_kills_the_program(project, programs):
    use_tiers(project, cheap=f"{{command: [{programs['sleeper']}], name: sleeper}}",
              mid=f"{{command: [{programs['fixer']}], name: fixer}}")
    engine = Engine(load_config(project), Ledger(default_path()))
    req = RunRequest(action="fix", path=str(project / "sample.py"), text=SAMPLE, range=Range.of(2, 0, 9, 0),
                     workspace_root=str(project))
    pid_file = programs["dir"] / "sleeper.pid"

    async def scenario() -> int:
        task = asyncio.ensure_future(engine.run(req))
        for _ in range(200):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        pid = int(pid_file.read_text())
        os.kill(pid, 0)  # running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    pid = asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"program {pid} still runs after the cancel")
    assert [r.outcome for r in ledger_rows()] == ["cancelled"]


def test_daily_call_limit_and_price_are_respected(project, programs, capsys):
    use_tiers(project,
              cheap=f"{{command: [{programs['fixer']}], name: plan, max_calls_per_day: 1,"
                    f" price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}",
              mid=f"{{command: [{programs['fixer']}], name: backup}}")
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    first = ledger_rows()[-1]
    assert first.model == "command/plan"
    assert first.cost_usd == pytest.approx((first.input_tokens * 1.0 + first.output_tokens * 2.0) / 1e6, abs=1e-12)
    capsys.readouterr()
    assert main(["run", "fix", "sample.py:3-9"]) == 0
    assert ledger_rows()[-1].model == "command/backup"
    assert "plan has used its 1 calls for today" in capsys.readouterr().out


def test_doctor_says_whether_each_program_is_found(project, programs, capsys):
    use_tiers(project, cheap="{command: [no-such-agent], name: ghost}",
              mid=f"{{command: [{programs['fixer']}], name: fixer}}")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "no-such-agent not found on PATH" in out
    assert f"{programs['fixer']} answers" in out


def test_config_errors_for_command_entries(project):
    from routerls.config import ConfigError

    use_tiers(project, cheap="{command: [], name: empty}", mid="{model: openai/gpt-4o}")
    with pytest.raises(ConfigError, match=r"command: give the program, then its arguments"):
        load_config(project)
    use_tiers(project, cheap="{command: [x], input: pipe}", mid="{model: openai/gpt-4o}")
    with pytest.raises(ConfigError, match="unknown input 'pipe'; allowed: stdin, arg"):
        load_config(project)
