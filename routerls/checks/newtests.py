"""A generated test file must run: the project's runner collects at least one test from it and
they pass against the current code. A file that fails either is never written."""

from __future__ import annotations

import ast
import asyncio
import shlex
import sys
from pathlib import Path

from routerls.checks import testrun
from routerls.checks.scratch import RunFolder, TooBig, manifest


def count_tests(text: str) -> int:
    """Test functions pytest would collect by its default names (`test*` functions, `Test*`
    classes' `test*` methods)."""
    tree = ast.parse(text)
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    n = sum(1 for node in tree.body if isinstance(node, funcs) and node.name.startswith("test"))
    for cls in (c for c in tree.body if isinstance(c, ast.ClassDef) and c.name.startswith("Test")):
        n += sum(1 for node in cls.body if isinstance(node, funcs) and node.name.startswith("test"))
    return n


async def verify(root: Path, rel: str, doc_rel: str, doc_text: str, test_text: str, *, language: str,
                 command: str | None, run: bool, timeout_s: float, max_bytes: int) -> testrun.Verdict:
    """`rel`: where the new file goes (relative to `root`); `doc_rel`/`doc_text`: the code under
    test as the editor has it now."""
    if language == "python":
        try:
            found = count_tests(test_text)
        except (SyntaxError, ValueError) as exc:
            return testrun.Verdict(f"the generated test file does not parse ({exc})", "")
        if found == 0:
            return testrun.Verdict("pytest would collect no test from the generated file "
                                   "(no test_ functions)", "no tests")
    if not run:
        return testrun.Verdict(None, "generated tests not run (checks.tests is off)")
    if command is None and language != "python":
        return testrun.Verdict(None, "generated tests not run: no test command for this language "
                                     "(checks.test_command)")
    if command is None and not testrun.pytest_available():
        return testrun.Verdict(None, f"generated tests not run: pytest is not installed for {sys.executable}")
    try:
        listing = await asyncio.to_thread(manifest, root, max_bytes)
    except TooBig as exc:
        return testrun.Verdict(None, f"generated tests not run: {exc} (checks.max_copy_mb)")
    with RunFolder(root, doc_rel) as folder:
        await asyncio.to_thread(_copy, root, listing, folder)
        for path, text in ((doc_rel, doc_text), (rel, test_text)):
            target = folder.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
        if command is None:
            argv = testrun.pytest_argv([sys.executable], [rel], None)
            result = await testrun.run_pytest(folder, argv, timeout_s, "generated")
        else:
            argv = [part.replace("{file}", rel) for part in shlex.split(command)]
            result = await testrun.run_command(folder, argv, timeout_s)
    if result.timed_out:
        return testrun.Verdict(f"the generated tests ran past {timeout_s:g} s and were stopped",
                               f"generated tests timed out after {timeout_s:g} s")
    if result.error is not None:
        return testrun.Verdict(f"the generated tests could not run ({result.error})", "tests could not run")
    tests = {t: r for t, r in result.results.items() if "::" in t or command is not None}
    if not tests:
        broken = next(iter(result.results.values()), None)
        detail = f": {testrun._short(broken)}" if broken and testrun._short(broken) else ""
        return testrun.Verdict(f"pytest collected no test from the generated file{detail}", "no tests collected")
    failed = [t for t, r in tests.items() if r.outcome == "failed"]
    summary = f"{len(tests) - len(failed)} of {len(tests)} generated tests passed in {result.seconds:.1f} s"
    if failed:
        why = testrun._short(tests[failed[0]])
        return testrun.Verdict(f"{len(failed)} of {len(tests)} generated tests fail against the current "
                               f"code: {failed[0]}" + (f" ({why})" if why else ""), summary)
    return testrun.Verdict(None, f"{len(tests)} generated test{'s' if len(tests) != 1 else ''} "
                                 f"passed in {result.seconds:.1f} s")


def _copy(root: Path, listing, folder: RunFolder) -> None:
    from routerls.checks.scratch import copy

    copy(root, listing, folder.work)
