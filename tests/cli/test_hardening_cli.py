"""The CLI on untrusted files: it reads only small regular files, and the `tests` action writes
its new file only inside the workspace, naming the file it really wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from routerls.cli import main

SOURCE = "def second():\n    return 2\n"
TESTS = "```python\nfrom app import second\n\n\ndef test_second():\n    assert second() == 2\n```"


@pytest.mark.parametrize(("target", "expected"), [
    ("/dev/zero", "/dev/zero: not a regular file"),
    ("big.py", "big.py: 3145734 bytes is over the 2097152-byte limit (limits.max_file_bytes)"),
])
def test_dev_zero_and_a_3_mb_file_are_refused(project, model_server, capsys, target, expected):
    (project / "big.py").write_bytes(b"x = 1\n" * (3 * 1024 * 1024 // 6 + 1))
    assert main(["run", "explain", target]) == 2
    assert expected in capsys.readouterr().err
    assert not model_server.requests


def test_the_size_limit_is_a_setting(project, model_server, capsys):
    (project / "big.py").write_bytes(b"x = 1\n" * 200)
    (project / ".routerls.yaml").write_text("limits: {max_file_bytes: 1000}\n")
    assert main(["run", "explain", "big.py"]) == 2
    assert "1200 bytes is over the 1000-byte limit" in capsys.readouterr().err
    (project / ".routerls.yaml").write_text("limits:\n  max_file_bytes: -1\n")
    assert main(["run", "explain", "app.py"]) == 2
    assert ".routerls.yaml:2: limits.max_file_bytes: must be greater than 0" in capsys.readouterr().err


def test_tests_symlinked_out_of_the_workspace_writes_nothing(project, model_server, capsys, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project / "app.py").write_text(SOURCE)
    (project / "tests").symlink_to(elsewhere)
    model_server.default(TESTS)
    assert main(["run", "tests", "app.py", "--write"]) == 2
    err = capsys.readouterr().err
    assert "outside the workspace" in err and "no new file written" in err
    assert list(elsewhere.iterdir()) == [] and not model_server.requests


def test_a_dangling_test_file_symlink_is_refused(project, model_server, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "test_app.py"
    (project / "app.py").write_text(SOURCE)
    (project / "tests").mkdir()
    (project / "tests" / "test_app.py").symlink_to(outside)
    model_server.default(TESTS)
    assert main(["run", "tests", "app.py", "--write"]) == 2
    assert "dangling symlink" in capsys.readouterr().err
    assert not outside.exists()


def test_a_symlink_inside_the_workspace_is_written_at_its_real_path(project, model_server, capsys):
    (project / "app.py").write_text(SOURCE)
    (project / "real_tests").mkdir()
    (project / "tests").symlink_to(project / "real_tests")
    model_server.default(TESTS)
    assert main(["run", "tests", "app.py", "--write"]) == 0
    out = capsys.readouterr().out
    real = (project / "real_tests" / "test_app.py").resolve()
    assert f"created {real}" in out.replace("\n", "")
    assert "def test_second" in Path(real).read_text()
