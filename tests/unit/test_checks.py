"""The verifiers of routerls/checks/ on their own: ruff findings compared before and after, the
project's tests run on a scratch copy (offline, nothing written outside it, killed at the
timeout), a generated test file that must be collected and pass, and answers that change nothing."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from routerls.checks import Outcome, Subject, findings, run, scratch, testrun
from routerls.config import ChecksSettings
from routerls.context import Diagnostic
from routerls.text import Range

SETTINGS = ChecksSettings(timeout_s=20)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: a rejected answer must leave this unchanged."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def subject(root: Path, name: str, before: str, after: str, action: str = "fix", **kw) -> Subject:
    return Subject(action=action, result="replace", builtin=True, language="python",
                   path=str(root / name), before_doc=before, after_doc=after, before_sel=before,
                   after_sel=after, first_line=0, workspace_root=str(root), **kw)


def check(s: Subject, settings: ChecksSettings = SETTINGS) -> Outcome:
    return asyncio.run(run(s, settings))


# --- ruff: no new findings ----------------------------------------------------------------------

def test_a_new_undefined_name_is_rejected_but_an_old_finding_elsewhere_does_not_block(tmp_path):
    before = "import os\n\n\ndef middle(xs):\n    return xs[len(xs) // 2]\n"
    wrong = "import os\n\n\ndef middle(xs):\n    m = len(xs) // 2\n    return xs[mid]\n"
    right = "import os\n\n\ndef middle(xs):\n    mid = len(xs) // 2\n    return xs[mid]\n"
    out = check(subject(tmp_path, "m.py", before, wrong, "refactor"), ChecksSettings(tests="off"))
    assert out.failure == ("it introduces F841 Local variable `m` is assigned to but never used; "
                           "F821 Undefined name `mid`")
    # `import os` was unused before and still is: not new, so the right answer passes
    ok = check(subject(tmp_path, "m.py", before, right, "refactor"), ChecksSettings(tests="off"))
    assert ok.failure is None and ok.summary == "ruff: no new findings"


def test_findings_are_counted_as_a_multiset_not_by_line():
    f = findings.Finding
    before = [f("F401", "`os` imported but unused", 1)]
    # the same finding on another line (the edit shifted it) is not new; a second copy is
    assert findings.introduced(before, [f("F401", "`os` imported but unused", 9)], True, (1, 1)) == []
    twice = [f("F821", "Undefined name `x`", 3), f("F821", "Undefined name `x`", 5)]
    assert findings.introduced([twice[0]], twice, True, (1, 9)) == [twice[1]]
    # before did not parse (ruff then reports only the syntax error): findings inside the edit count
    assert findings.introduced([], twice, False, (4, 6)) == [twice[1]]


def test_a_fixed_syntax_error_with_an_old_finding_elsewhere_is_accepted(tmp_path):
    before = "import os\n\ndef add(a, b)\n    return a + b\n"
    after = "import os\n\ndef add(a, b):\n    return a + b\n"
    s = Subject(action="fix", result="replace", builtin=True, language="python", path=str(tmp_path / "a.py"),
                before_doc=before, after_doc=after, before_sel="def add(a, b)\n    return a + b\n",
                after_sel="def add(a, b):\n    return a + b\n", first_line=2, workspace_root=str(tmp_path))
    assert check(s, ChecksSettings(tests="off")).failure is None


# --- answers that change nothing ----------------------------------------------------------------

def test_an_unchanged_answer_fails_unless_the_code_was_already_right(tmp_path):
    code = "def f(x):\n    return x + 1\n"
    assert check(subject(tmp_path, "f.py", code, code, "refactor")).failure == "the answer changes nothing"
    assert check(subject(tmp_path, "f.py", code, code, "fix")).failure == (
        "the answer changes nothing (the problem is still there)")
    # format: already formatted is right; badly formatted and unchanged is not
    assert check(subject(tmp_path, "f.py", code, code, "format")).ran == (
        "already formatted: ruff format leaves it as it is",)
    ugly = "def f( x ):\n    return x+1\n"
    assert check(subject(tmp_path, "f.py", ugly, ugly, "format")).failure == (
        "the answer changes nothing, and ruff format would change it")
    # fix: the ruff finding it was for is no longer reported
    gone = Diagnostic(Range.of(0, 0, 0, 9), "`os` imported but unused", 2, "F401", "Ruff")
    assert check(subject(tmp_path, "f.py", code, code, "fix", diagnostics=(gone,))).failure is None


def test_a_format_answer_that_ruff_would_still_change_is_rejected(tmp_path):
    before = "x = [1,2,\n  3]\n"
    half = "x = [1, 2,\n     3]\n"
    assert check(subject(tmp_path, "f.py", before, half, "format")).failure == (
        "ruff format would still change the result")
    assert check(subject(tmp_path, "f.py", before, "x = [1, 2, 3]\n", "format")).failure is None


def test_a_docstring_answer_must_document_what_it_was_given(tmp_path):
    before = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    half = before.replace("def a():\n", 'def a():\n    """One."""\n')
    assert check(subject(tmp_path, "d.py", before, half, "docstring")).failure == "it left b without a docstring"


# --- the project's tests --------------------------------------------------------------------------

def project(root: Path, module: str, tests: str) -> Path:
    (root / "tests").mkdir()
    (root / "stats.py").write_text(module)
    (root / "tests" / "test_stats.py").write_text(tests)
    return root


MEAN = "def mean(xs):\n    return sum(xs) / len(xs)\n"
MEAN_TESTS = ("from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
              "def test_one():\n    assert mean([5]) == 5\n")


def test_discovery_finds_importers_and_conventional_names(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "geo.py").write_text("X = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_geo.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "tests" / "test_uses.py").write_text("from pkg.geo import X\n")
    (tmp_path / "tests" / "test_pkg.py").write_text("from pkg import geo\n")
    (tmp_path / "tests" / "test_other.py").write_text("import geography\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "test_geo.py").write_text("")
    assert sorted(testrun.discover(tmp_path, "pkg/geo.py", False)) == [
        "tests/test_geo.py", "tests/test_pkg.py", "tests/test_uses.py"]
    assert testrun.discover(tmp_path, "pkg/geo.py", True)[0] == "pkg/geo.py"  # its doctests


def test_a_refactor_that_breaks_a_passing_test_is_rejected_and_the_tree_is_untouched(tmp_path):
    root = project(tmp_path, MEAN, MEAN_TESTS)
    snapshot = tree(root)
    wrong = "def mean(xs):\n    return sum(xs) // len(xs) + 1\n"
    out = check(subject(root, "stats.py", MEAN, wrong, "refactor"))
    assert out.failure.startswith("2 tests that passed before fail with it: tests/test_stats.py::test_mean")
    right = "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n"
    ok = check(subject(root, "stats.py", MEAN, right, "refactor"))
    assert ok.failure is None and ok.ran[0] == "ruff: no new findings"
    assert ok.ran[1].startswith("2 tests passed in ")
    assert tree(root) == snapshot  # byte-identical: no copy, no .pyc, no .pytest_cache
    assert not list(root.rglob("__pycache__"))


@pytest.mark.slow
def test_a_fix_must_make_the_test_that_failed_because_of_it_pass(tmp_path):
    broken = "def last(items):\n    return items[len(items)]\n"
    tests = ("from stats import last\n\n\ndef test_last():\n    assert last([1, 2, 3]) == 3\n\n\n"
             "def test_unrelated():\n    assert False, 'an old failure elsewhere'\n")
    root = project(tmp_path, broken, tests)
    still = "def last(items):\n    return items[len(items) - 2]\n"
    out = check(subject(root, "stats.py", broken, still))
    assert out.failure == "tests/test_stats.py::test_last still fails after the fix (assert 2 == 3)"
    # the unrelated failure does not block the right fix
    assert check(subject(root, "stats.py", broken, "def last(items):\n    return items[-1]\n")).failure is None


@pytest.mark.slow
def test_the_before_run_is_cached_by_content(tmp_path):
    root = project(tmp_path, MEAN, MEAN_TESTS)
    right = "def mean(xs):\n    return sum(xs) / max(len(xs), 1)\n"
    target = testrun.Target(root, "stats.py", MEAN, right, (1, 2), (1, 2))
    runs = []
    real = testrun.run_pytest

    async def counting(*args, **kw):
        runs.append(args[-1])
        return await real(*args, **kw)

    testrun._CACHE.clear()
    testrun.run_pytest = counting
    try:
        for _ in range(2):
            asyncio.run(testrun.verify(target, command=None, timeout_s=20, max_bytes=10**8))
        (root / "tests" / "test_stats.py").write_text(MEAN_TESTS + "\n")  # the tests changed
        asyncio.run(testrun.verify(target, command=None, timeout_s=20, max_bytes=10**8))
    finally:
        testrun.run_pytest = real
    assert runs == ["before", "after", "after", "before", "after"]


def test_no_tests_found_says_so_and_falls_back_to_the_static_checks(tmp_path):
    (tmp_path / "lonely.py").write_text(MEAN)
    out = check(subject(tmp_path, "lonely.py", MEAN, MEAN.replace("sum(xs)", "sum(list(xs))"), "refactor"))
    assert out.failure is None and out.ran == ("ruff: no new findings", "no tests found for lonely.py")


@pytest.mark.slow
def test_a_hanging_suite_is_killed_at_the_timeout_with_a_clear_message(tmp_path):
    slow = ("import time\nfrom stats import mean\n\n\ndef test_mean():\n"
            "    if mean([1, 3]) != 2:\n        time.sleep(60)\n")
    root = project(tmp_path, MEAN, slow)
    hangs_after = "def mean(xs):\n    return sum(xs) / len(xs) + 0.5\n"
    started = time.monotonic()
    # 8 s: pytest itself takes seconds to start on a loaded machine, and the before-run must finish
    out = check(subject(root, "stats.py", MEAN, hangs_after, "refactor"), ChecksSettings(timeout_s=8))
    assert time.monotonic() - started < 30
    assert out.failure == "the tests ran past 8 s with the change and were stopped (checks.timeout_s)"
    # a suite that hangs before the edit too cannot judge it: said, and the static checks decide
    (root / "tests" / "test_stats.py").write_text("import time\n\nimport stats\n\n\ndef test_x():\n"
                                                  "    time.sleep(60)\n")
    out = check(subject(root, "stats.py", MEAN, hangs_after, "refactor"), ChecksSettings(timeout_s=2))
    assert out.failure is None
    assert out.ran[-1] == ("tests not used: they ran past 2 s before the edit and were stopped "
                           "(checks.timeout_s)")


def test_user_tests_cannot_reach_the_network_or_write_outside_the_copy(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    tests = f"""\
import os
import socket
import urllib.request

import pytest

import stats


def test_no_socket():
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", {port}), timeout=2)


def test_no_http():
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=2)


def test_no_write_outside():
    with pytest.raises(PermissionError):
        open({str(outside)!r}, "w")
    with pytest.raises(PermissionError):
        os.remove({str(tmp_path / 'stats.py')!r})


def test_writes_inside_the_copy_and_tmp_are_fine(tmp_path):
    (tmp_path / "x").write_text("ok")
    with open("scratch.txt", "w") as f:
        f.write("inside the copy")
"""
    root = project(tmp_path, MEAN, tests)
    snapshot = tree(root)
    out = check(subject(root, "stats.py", MEAN, MEAN.replace("sum(xs)", "sum(list(xs))"), "refactor"))
    assert out.failure is None and out.ran[1].startswith("4 tests passed"), out
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody ever connected
    listener.close()
    assert not outside.exists()
    assert tree(root) == snapshot


def test_a_test_command_replaces_pytest_with_file_placeholders(tmp_path):
    (tmp_path / "check.sh").write_text('grep -q "return 1" "$1"\n')
    (tmp_path / "lib.py").write_text("def one():\n    return 1\n")
    settings = ChecksSettings(test_command={"python": "sh check.sh {file}"})
    bad = check(subject(tmp_path, "lib.py", "def one():\n    return 1\n", "def one():\n    return 2\n",
                        "refactor"), settings)
    assert bad.failure.startswith("1 test that passed before fails with it: sh")
    good = check(subject(tmp_path, "lib.py", "def one():\n    return 1\n",
                         "def one():\n    return 1  # one\n\n\nONE = 1\n", "refactor"), settings)
    assert good.failure is None and good.ran[-1].startswith("1 test passed")


# --- generated test files -------------------------------------------------------------------------

def new_tests(root: Path, text: str) -> Outcome:
    (root / "stats.py").write_text(MEAN)
    return check(Subject(action="tests", result="new_file", builtin=True, language="python",
                         path=str(root / "stats.py"), before_doc=MEAN, after_doc=MEAN,
                         workspace_root=str(root), new_file=(str(root / "tests" / "test_stats.py"), text)))


@pytest.mark.slow
def test_a_generated_test_file_must_collect_tests_that_pass(tmp_path):
    (tmp_path / "tests").mkdir()
    assert new_tests(tmp_path, "from stats import mean\n\n\ndef check_mean():\n    assert mean([2]) == 2\n"
                     ).failure == "pytest would collect no test from the generated file (no test_ functions)"
    failing = "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2]) == 2\n"
    assert new_tests(tmp_path, failing).failure.startswith(
        "1 of 1 generated tests fail against the current code: tests/test_stats.py::test_mean")
    broken_import = "from stats import median\n\n\ndef test_median():\n    assert median([1]) == 1\n"
    assert "collected no test" in new_tests(tmp_path, broken_import).failure
    good = "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 3]) == 2\n"
    out = new_tests(tmp_path, good)
    assert out.failure is None and out.ran[0].startswith("1 generated test passed in ")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["stats.py", "tests"]  # nothing written


def test_the_scratch_copy_skips_environments_and_is_bounded(tmp_path):
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "big.py").write_text("x" * 100)
    (tmp_path / "a.py").write_text("x = 1\n")
    assert [f[0] for f in scratch.manifest(tmp_path, 10**6)] == ["a.py"]
    (tmp_path / "b.bin").write_bytes(b"0" * 2000)
    with pytest.raises(scratch.TooBig):
        scratch.manifest(tmp_path, 1000)


def test_the_projects_linter_must_report_nothing_new(tmp_path):
    (tmp_path / "lint.sh").write_text('grep -n "var " "$1" | sed "s/^/$1:/"\nexit 1\n')
    before = "var a = 1;\nlet b = 2;\n"
    (tmp_path / "app.js").write_text(before)
    settings = ChecksSettings(lint_command={"javascript": "sh lint.sh {file}"})

    def js(after: str) -> Outcome:
        return check(Subject(action="refactor", result="replace", builtin=True, language="javascript",
                             path=str(tmp_path / "app.js"), before_doc=before, after_doc=after,
                             before_sel=before, after_sel=after, workspace_root=str(tmp_path)), settings)

    # the old `var a` moved a line down: not new; a second `var` is
    assert js("// two\nvar a = 1;\nlet b = 2;\n").ran[0] == "sh: nothing new"
    assert js("var a = 1;\nvar b = 2;\n").failure == "sh reports 1 new problem: app.js:#:var b = #;"


def test_blank_lines_ruff_wants_around_the_selection_are_not_the_answers_fault():
    text = "import os, sys\ndef area( w,h ):\n    return w*h\n"
    formatted = "import os, sys\n\n\ndef area(w, h):\n    return w * h\n"
    assert not findings.changes_inside(text, formatted, (1, 1))  # only line 1 was formatted
    assert findings.changes_inside(text, formatted, (1, 2))
    assert findings.changes_inside("x=1\n", "x = 1\n", (1, 1))


@pytest.mark.skipif("-rmn" not in scratch._isolation(),
                    reason="this kernel does not allow unprivileged mount namespaces")
def test_a_program_that_is_not_python_cannot_write_outside_the_copy_either(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-shell.txt"
    tests = f"""\
import subprocess

import stats


def test_shell_write_outside_fails():
    done = subprocess.run(["sh", "-c", "echo x > {outside}"], capture_output=True, text=True)
    assert done.returncode != 0 and "Read-only file system" in done.stderr


def test_shell_write_inside_works():
    assert subprocess.run(["sh", "-c", "echo x > here.txt"]).returncode == 0
"""
    root = project(tmp_path, MEAN, tests)
    snapshot = tree(root)
    out = check(subject(root, "stats.py", MEAN, MEAN.replace("sum(xs)", "sum(list(xs))"), "refactor"))
    assert out.failure is None and out.ran[1].startswith("2 tests passed"), out
    assert not outside.exists()
    assert tree(root) == snapshot


def test_a_fix_must_make_a_failing_assert_on_the_selected_function_pass(tmp_path):
    # the failure is an assert in the test file, not a traceback through the module: the failing
    # line calls `add_item`, which the selection defines
    leaky = "def add_item(item, items=[]):\n    items.append(item)\n    return items\n"
    tests = ("from stats import add_item\n\n\ndef test_fresh_list():\n    add_item('a')\n"
             "    assert add_item('b') == ['b']\n")
    root = project(tmp_path, leaky, tests)
    still = "def add_item(item, items=[]):\n    items = items\n    items.append(item)\n    return items\n"
    out = check(subject(root, "stats.py", leaky, still), ChecksSettings())
    assert out.failure is not None and out.failure.startswith(
        "tests/test_stats.py::test_fresh_list still fails after the fix")
    right = ("def add_item(item, items=None):\n    items = [] if items is None else items\n"
             "    items.append(item)\n    return items\n")
    assert check(subject(root, "stats.py", leaky, right)).failure is None
