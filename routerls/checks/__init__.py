"""Every check a model's code result passes before anyone sees it, one verifier a module:

- `parse`     it parses (Python's `ast`; tree-sitter for JavaScript, TypeScript, Go, Rust)
- `rules`     static rules: kept code, `format` keeps the meaning, `docstring` only documents
- `findings`  ruff before and after: no new pyflakes-level findings, a fix's findings gone,
              a `format` result is what `ruff format` leaves
- `lint`      the project's own linter (`checks.lint_command`), before and after, for any language
- `testrun`   the project's tests before and after, on a scratch copy (`scratch`), offline
- `newtests`  a generated test file is collected and passes against the current code

`run` applies them in that order (cheapest first) and says which ran: a failure is a reason,
and the engine escalates to a stronger tier instead of applying the edit.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from routerls.checks import findings, lint, newtests, testrun
from routerls.checks.parse import GRAMMARS, is_syntax_diagnostic, python_error
from routerls.checks.rules import defined_names, verify
from routerls.config import ChecksSettings
from routerls.context import Diagnostic

__all__ = ["GRAMMARS", "Outcome", "Subject", "is_syntax_diagnostic", "run", "verify"]


@attrs.frozen
class Subject:
    """A code result to check: the document and the selection before and after the edits."""

    action: str
    result: str  # replace | insert_above | new_file
    builtin: bool
    language: str
    path: str
    before_doc: str
    after_doc: str
    before_sel: str = ""
    after_sel: str = ""
    first_line: int = 0  # 0-based line where the selection starts
    diagnostics: tuple[Diagnostic, ...] = ()
    workspace_root: str | None = None
    new_file: tuple[str, str] | None = None  # (absolute path, text) of a generated file

    @property
    def root(self) -> Path:
        folder = os.path.dirname(os.path.abspath(self.path))
        root = os.path.abspath(self.workspace_root) if self.workspace_root else folder
        return Path(root if os.path.commonpath([root, folder]) == root else folder)

    def lines(self, after: bool) -> tuple[int, int]:
        """The selection's 1-based inclusive line span before or after the edit."""
        n = max(len((self.after_sel if after else self.before_sel).splitlines()), 1)
        return self.first_line + 1, self.first_line + n


@attrs.frozen
class Outcome:
    failure: str | None
    ran: tuple[str, ...] = ()  # what ran and its result, e.g. "ruff: no new findings"

    @property
    def summary(self) -> str:
        return " · ".join(self.ran)


async def run(s: Subject, settings: ChecksSettings) -> Outcome:
    """The checks for `s`, cheapest first; stops at the first failure."""
    if s.new_file is not None:
        return await _new_file(s, settings)
    if s.after_doc == s.before_doc:
        return await _unchanged(s)
    failure = verify(s.action, s.language, s.before_doc, s.after_doc, s.before_sel, s.after_sel,
                     s.first_line)
    if failure is not None:
        return Outcome(failure, ("parse and rules: failed",))
    ran: list[str] = []
    if s.language == "python":
        failure, note = await _ruff(s)
        if note:
            ran.append(note)
        if failure is not None:
            return Outcome(failure, tuple(ran))
    lint_command = settings.lint_command.get(s.language)
    if lint_command and s.action not in ("format", "docstring"):
        failure, note = await lint.verify(s.root, _rel(s), s.before_doc, s.after_doc, lint_command,
                                          timeout_s=settings.timeout_s,
                                          max_bytes=int(settings.max_copy_mb * 1_000_000))
        ran.append(note)
        if failure is not None:
            return Outcome(failure, tuple(ran))
    if settings.tests == "auto" and (s.action in ("fix", "refactor") or (not s.builtin and s.result == "replace")):
        command = settings.test_command.get(s.language)
        target = testrun.Target(s.root, _rel(s), s.before_doc, s.after_doc, s.lines(False), s.lines(True),
                                fix=s.action == "fix", names=tuple(defined_names(s.before_sel)))
        verdict = await testrun.verify(target, command=command, timeout_s=settings.timeout_s,
                                       max_bytes=int(settings.max_copy_mb * 1_000_000))
        ran.append(verdict.summary)
        if verdict.failure is not None:
            return Outcome(verdict.failure, tuple(ran))
    return Outcome(None, tuple(ran))


def _rel(s: Subject) -> str:
    return Path(os.path.abspath(s.path)).relative_to(s.root).as_posix()


async def _ruff(s: Subject) -> tuple[str | None, str | None]:
    """New findings (every code action but format/docstring, which keep the code), a fix's
    ruff findings gone, a format result that ruff format leaves."""
    cwd = str(s.root) if s.root.is_dir() else None
    if s.action == "format":
        if python_error(s.after_doc) is not None:
            return None, None
        left = await findings.format_left_as_is(s.after_doc, s.path, s.lines(True), cwd)
        if left is False:
            return "ruff format would still change the result", "ruff format: would change it"
        return None, "ruff format: unchanged" if left else "ruff format: not available"
    if s.action == "docstring":
        return None, "only documentation changed"
    wanted = findings.ruff_codes(s.diagnostics) if s.action == "fix" else ()
    try:
        before = await findings.ruff_check(s.before_doc, s.path, (*findings.SELECT, *wanted))
        after = await findings.ruff_check(s.after_doc, s.path, (*findings.SELECT, *wanted))
    except findings.Unavailable as exc:
        return None, f"no lint ({exc})"
    new = findings.introduced([f for f in before if _pyflakes(f)], [f for f in after if _pyflakes(f)],
                              python_error(s.before_doc) is None, s.lines(True))
    if new:
        shown = "; ".join(str(f) for f in new[:3]) + (f" (+{len(new) - 3} more)" if len(new) > 3 else "")
        return f"it introduces {shown}", f"ruff: {len(new)} new finding{'s' if len(new) > 1 else ''}"
    left = findings.still_reported(before, after, s.diagnostics) if s.action == "fix" else []
    if left:
        return f"ruff still reports {', '.join(left)}", "ruff: the finding is still there"
    return None, "ruff: no new findings"


async def _unchanged(s: Subject) -> Outcome:
    """An answer that changes nothing is a failure for fix, refactor, format and docstring,
    unless the code was already right."""
    if s.action == "format" and s.language == "python" and python_error(s.before_doc) is None:
        cwd = str(s.root) if s.root.is_dir() else None
        left = await findings.format_left_as_is(s.before_doc, s.path, s.lines(False), cwd)
        if left:
            return Outcome(None, ("already formatted: ruff format leaves it as it is",))
        return Outcome("the answer changes nothing, and ruff format would change it"
                       if left is False else "the answer changes nothing")
    if s.action == "fix" and await _already_fixed(s):
        return Outcome(None, ("already right: the diagnostic is gone",))
    if s.action in ("fix", "refactor", "format", "docstring"):
        return Outcome("the answer changes nothing" + (" (the problem is still there)" if s.action == "fix" else ""))
    return Outcome(None, ("unchanged",))


async def _already_fixed(s: Subject) -> bool:
    """The diagnostics a fix was for are no longer there: syntax errors gone, ruff's codes gone."""
    if not s.diagnostics or s.language != "python":
        return False
    if not all(is_syntax_diagnostic(d) or (d.source or "").lower() == "ruff" for d in s.diagnostics):
        return False  # a failing run or another tool's finding: nothing here can re-check it
    if python_error(s.before_doc) is not None:
        return False
    codes = findings.ruff_codes(s.diagnostics)
    if not codes:
        return True
    try:
        now = await findings.ruff_check(s.before_doc, s.path, codes)
    except findings.Unavailable:
        return False
    first, last = s.lines(False)
    return not [f for f in now if first <= f.row <= last]


def _pyflakes(f: findings.Finding) -> bool:
    return f.code.startswith(("F", "E9"))


async def _new_file(s: Subject, settings: ChecksSettings) -> Outcome:
    assert s.new_file is not None
    target, text = s.new_file
    root = s.root
    try:
        rel = Path(os.path.abspath(target)).relative_to(root).as_posix()
    except ValueError:
        return Outcome(f"the generated file {target} is outside the workspace")
    verdict = await newtests.verify(
        root, rel, _rel(s), s.before_doc, text, language=s.language,
        command=settings.test_command.get(s.language), run=settings.tests == "auto",
        timeout_s=settings.timeout_s, max_bytes=int(settings.max_copy_mb * 1_000_000))
    return Outcome(verdict.failure, (verdict.summary,) if verdict.summary else ())
