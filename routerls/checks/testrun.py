"""The project's own tests as the verifier of a `fix`, a `refactor` or a user action that
replaces code: find the tests that exercise the edited module, run them on a scratch copy
before and after the edit, and accept only if nothing that passed breaks (and, for a fix, the
tests that failed because of the selected code now pass).

The "before" run is cached by content (the command, the document, the copied files), so the
next action on the same code pays for one run, not two.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shlex
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import attrs

from routerls.checks.scratch import Ran, RunFolder, TooBig, manifest, walk

_IMPORT = re.compile(r"^\s*(?:from\s+([.\w]+)\s+import\s+([\w\s,()*]+)|import\s+([\w.,\s]+))", re.MULTILINE)
_CACHE: OrderedDict[str, TestRun] = OrderedDict()
_CACHE_SIZE = 32
MAX_TEST_FILE_BYTES = 500_000
_RANK = {"skipped": 0, "passed": 1, "failed": 2}
MAX_FILES_SEARCHED = 20_000


@attrs.frozen
class Result:
    outcome: str  # passed | failed | skipped
    text: str = ""  # the failure report


@attrs.frozen
class TestRun:
    results: dict[str, Result]  # test id → result; a collection error is its file's id
    seconds: float
    timed_out: bool = False
    error: str | None = None  # the tests could not run at all

    @property
    def passed(self) -> list[str]:
        return [t for t, r in self.results.items() if r.outcome == "passed"]

    @property
    def failed(self) -> list[str]:
        return [t for t, r in self.results.items() if r.outcome == "failed"]


@attrs.frozen
class Target:
    """What is being changed: the file (relative to `root`), its text before and after, and the
    selection's 1-based line span in each."""

    root: Path
    rel: str
    before: str
    after: str
    before_lines: tuple[int, int]
    after_lines: tuple[int, int]
    fix: bool = False
    names: tuple[str, ...] = ()  # functions and classes defined in the selection


@attrs.frozen
class Verdict:
    failure: str | None
    summary: str  # "6 tests passed in 0.9 s", for the reason and the ledger


# --- which tests ----------------------------------------------------------------------------

def module_names(rel: str) -> set[str]:
    """`pkg/sub/mod.py` → {pkg.sub.mod, sub.mod, mod}; a `src/` prefix is not a package."""
    parts = Path(rel).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts))} - {""}


def imports_module(text: str, names: set[str], stem: str) -> bool:
    for m in _IMPORT.finditer(text):
        if m.group(3):
            mods = {p.strip().split(" as ")[0].strip() for p in m.group(3).split(",")}
            if mods & names:
                return True
            continue
        base = m.group(1).lstrip(".")
        imported = {p.strip().split(" as ")[0].strip("() \n") for p in m.group(2).split(",")}
        if base in names or (base == "" and stem in imported):
            return True
        if any(f"{base}.{n}" in names for n in imported if n):
            return True
    return False


def is_test_file(rel: str) -> bool:
    name = Path(rel).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def discover(root: Path, rel: str, doctests: bool) -> list[str]:
    """Test files (relative to `root`) that exercise `rel`: itself when it is a test file, the
    conventional `test_<module>.py` / `<module>_test.py`, and any test file that imports it;
    plus `rel` itself for its doctests."""
    stem = Path(rel).stem
    names = module_names(rel)
    found: list[str] = [rel] if is_test_file(rel) or doctests else []
    for seen, path in enumerate(walk(root)):
        if seen > MAX_FILES_SEARCHED:
            break  # a home folder opened as a workspace: stop rather than read it all
        candidate = path.as_posix()
        if candidate == rel or not is_test_file(candidate):
            continue
        if Path(candidate).name in (f"test_{stem}.py", f"{stem}_test.py"):
            found.append(candidate)
            continue
        try:
            if (root / path).stat().st_size > MAX_TEST_FILE_BYTES:
                continue
            text = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if imports_module(text, names, stem):
            found.append(candidate)
    return found


# --- running --------------------------------------------------------------------------------

def pytest_argv(python: Sequence[str], files: Sequence[str], doctest_of: str | None) -> list[str]:
    argv = [*python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "routerls_probe",
            "--rootdir", ".", "--tb=short", "-W", "ignore::DeprecationWarning"]
    if doctest_of is not None:
        argv.append("--doctest-modules")
    return argv + list(dict.fromkeys(files))


def read_probe(path: Path) -> dict[str, Result]:
    results: dict[str, Result] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return results
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        test, outcome = rec.get("id", "?"), rec.get("outcome")
        old = results.get(test)  # setup, call and teardown each report: the worst one counts
        if old is None or _RANK.get(outcome, 0) > _RANK.get(old.outcome, 0):
            results[test] = Result(outcome, rec.get("text", ""))
    return results


async def run_pytest(folder: RunFolder, argv: Sequence[str], timeout_s: float, label: str) -> TestRun:
    report = folder.path / f"{label}.jsonl"
    report.unlink(missing_ok=True)
    ran = await folder.run(argv, timeout_s, report)
    results = read_probe(report)
    if ran.returncode is None:
        return TestRun(results, ran.seconds, timed_out=True)
    # 0 passed, 1 some failed, 5 none collected; anything else is pytest itself failing
    if ran.returncode not in (0, 1, 5) and not results:
        last = ran.output.splitlines()[-1] if ran.output else f"exit status {ran.returncode}"
        return TestRun({}, ran.seconds, error=f"pytest could not run ({last[:160]})")
    return TestRun(results, ran.seconds)


async def run_command(folder: RunFolder, argv: Sequence[str], timeout_s: float) -> TestRun:
    """A project's own test command: one result, the whole command."""
    ran: Ran = await folder.run(argv, timeout_s)
    if ran.returncode is None:
        return TestRun({}, ran.seconds, timed_out=True)
    if ran.returncode == 127:
        return TestRun({}, ran.seconds, error=ran.output)
    tail = "\n".join(ran.output.splitlines()[-5:])
    return TestRun({argv[0]: Result("passed" if ran.returncode == 0 else "failed", tail)}, ran.seconds)


def _write(folder: RunFolder, rel: str, text: str) -> None:
    target = folder.work / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8", newline="")


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def pytest_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pytest") is not None


async def verify(target: Target, *, command: str | None, timeout_s: float, max_bytes: int) -> Verdict:
    """Run the tests before and after the edit on a scratch copy. `command` is the configured
    test command for the language (`{file}` is the edited file), else pytest for Python."""
    doctests = ">>>" in target.before or ">>>" in target.after
    files: list[str] = []
    if command is None:
        if not target.rel.endswith(".py"):
            return Verdict(None, "no test command for this language (checks.test_command)")
        files = await asyncio.to_thread(discover, target.root, target.rel, doctests)
        if not files:
            return Verdict(None, f"no tests found for {Path(target.rel).name}")
        if not pytest_available():
            return Verdict(None, f"tests not run: pytest is not installed for {sys.executable} "
                                 "(set checks.test_command.python)")
        argv = pytest_argv([sys.executable], files, target.rel if doctests else None)
    else:
        argv = [part.replace("{file}", target.rel) for part in shlex.split(command)]
    try:
        listing = await asyncio.to_thread(manifest, target.root, max_bytes)
    except TooBig as exc:
        return Verdict(None, f"tests not run: {exc} (checks.max_copy_mb)")
    with RunFolder(target.root, target.rel) as folder:
        await asyncio.to_thread(_copy, target.root, listing, folder)
        key = _key(argv, target.rel, target.before, listing)
        before = _CACHE.get(key)
        if before is None:
            _write(folder, target.rel, target.before)
            before = await _run(folder, argv, timeout_s, "before", command)
            if not before.timed_out and before.error is None:
                _CACHE[key] = before
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        if before.timed_out:
            return Verdict(None, f"tests not used: they ran past {timeout_s:g} s before the edit "
                                 "and were stopped (checks.timeout_s)")
        if before.error is not None:
            return Verdict(None, f"tests not used: {before.error}")
        _write(folder, target.rel, target.after)
        after = await _run(folder, argv, timeout_s, "after", command)
    return judge(target, before, after, timeout_s, whole_command=command is not None)


def _copy(root: Path, listing, folder: RunFolder) -> None:
    from routerls.checks.scratch import copy

    copy(root, listing, folder.work)


async def _run(folder: RunFolder, argv: Sequence[str], timeout_s: float, label: str,
               command: str | None) -> TestRun:
    if command is None:
        return await run_pytest(folder, argv, timeout_s, label)
    return await run_command(folder, argv, timeout_s)


def _through(text: str, rel: str, lines: tuple[int, int]) -> bool:
    """Does a failure report pass through `rel` within `lines` (1-based, inclusive)?"""
    name = re.escape(Path(rel).name)
    for m in re.finditer(rf"{name}\"?(?:, line |:)(\d+)", text):
        if lines[0] <= int(m.group(1)) <= lines[1]:
            return True
    return False


def _short(result: Result) -> str:
    lines = [ln.strip() for ln in result.text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E ")]
    return (errors[0][1:].strip() if errors else lines[-1] if lines else "")[:120]


def judge(target: Target, before: TestRun, after: TestRun, timeout_s: float,
          whole_command: bool = False) -> Verdict:
    """Accept only if no test that passed before fails after; for a fix, the tests that failed
    because of the selected code must pass after."""
    if after.timed_out:
        return Verdict(f"the tests ran past {timeout_s:g} s with the change and were stopped "
                       "(checks.timeout_s)", f"tests timed out after {timeout_s:g} s")
    if after.error is not None:
        return Verdict(f"the tests could not run with the change ({after.error})", "tests could not run")
    count = len(after.results)
    summary = f"{len(after.passed)} of {count} tests passed in {after.seconds:.1f} s" \
        if after.failed else f"{count} test{'s' if count != 1 else ''} passed in {after.seconds:.1f} s"
    broken = [t for t in before.passed if after.results.get(t, Result("failed")).outcome == "failed"]
    if broken:
        first = after.results.get(broken[0])
        why = f" ({_short(first)})" if first and _short(first) else ""
        return Verdict(f"{len(broken)} test{'s' if len(broken) > 1 else ''} that passed before "
                       f"fail{'s' if len(broken) == 1 else ''} with it: {broken[0]}{why}", summary)
    if target.fix:
        if whole_command:
            if before.failed and after.failed:
                return Verdict("the test command still fails", summary)
        else:
            still = _still_failing(target, before, after)
            if still:
                first = after.results[still[0]]
                why = f" ({_short(first)})" if _short(first) else ""
                return Verdict(f"{still[0]} still fails after the fix{why}", summary)
    return Verdict(None, summary)


def _calls(text: str, names: Sequence[str]) -> bool:
    """Does a failure report show a call of one of `names` (the failing line is in it)?"""
    return any(re.search(rf"(?<![\w.]){re.escape(n)}\s*\(", text) for n in names)


def _still_failing(target: Target, before: TestRun, after: TestRun) -> list[str]:
    """Tests that fail after the fix and failed before because of the selected code: their
    report ran through the selection or its failing line calls a function the selection defines,
    or their file could not even be collected because of it."""
    def blamed(text: str) -> bool:
        return _through(text, target.rel, target.before_lines) or _calls(text, target.names)

    blamed_files = {t.split("::")[0] for t, r in before.results.items()
                    if r.outcome == "failed" and "::" not in t and _through(r.text, target.rel, target.before_lines)}
    out = []
    for test, result in after.results.items():
        if result.outcome != "failed":
            continue
        old = before.results.get(test)
        if (old is not None and old.outcome == "failed" and blamed(old.text)) \
                or test.split("::")[0] in blamed_files or _through(result.text, target.rel, target.after_lines):
            out.append(test)
    return out
