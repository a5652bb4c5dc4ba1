"""A run from the terminal: `FILE[:L1[-L2]]` and the diagnostics a `fix` aims at, from the same
ruff runner the checks use."""

from pathlib import Path

import pytest

from routerls.backends.tools import which
from routerls.commands.request import parse_target, python_diagnostics
from routerls.commands.workspace import UsageError


def test_targets_are_a_file_and_1_based_inclusive_lines():
    assert parse_target("a.py") == (Path("a.py"), None, None)
    assert parse_target("a.py:3") == (Path("a.py"), 3, 3)
    assert parse_target("a.py:3-5") == (Path("a.py"), 3, 5)
    with pytest.raises(UsageError, match="1-based"):
        parse_target("a.py:5-3")


def test_a_syntax_error_is_the_one_diagnostic():
    (d,) = python_diagnostics("def f(:\n", Path("/tmp/x.py"))
    assert (d.code, d.source, d.range.start.line) == ("E999", "python", 0)


@pytest.mark.skipif(which("ruff") is None, reason="ruff is a test dependency; not found")
def test_ruff_findings_are_diagnostics_with_their_ranges(tmp_path):
    found = python_diagnostics("import os\n", tmp_path / "m.py")
    assert [(d.code, d.source, d.severity) for d in found] == [("F401", "ruff", 2)]
    r = found[0].range
    assert (r.start.line, r.start.character, r.end.line, r.end.character) == (0, 7, 0, 9)
