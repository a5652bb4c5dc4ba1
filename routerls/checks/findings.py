"""ruff on the document before and after: no new pyflakes-level findings, the findings a `fix`
was for are gone, and a `format` result is what `ruff format` would leave.

Findings are compared as a multiset keyed by (code, message), not by line: an edit shifts
lines, and a finding that was already there elsewhere in the file must not block the answer.
This is the one place routerls runs `ruff check` (on a result, and for the CLI's diagnostics).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import attrs

from routerls.backends import tools
from routerls.context import Diagnostic

# pyflakes (undefined name F821, redefinition F811, unused variable F841, unused import F401, …)
# and syntax errors: findings that are wrong code, not taste
SELECT = ("F", "E9")
TIMEOUT_S = 10.0


@attrs.frozen
class Finding:
    code: str
    message: str
    row: int  # 1-based

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class Unavailable(Exception):
    """ruff is not installed or could not read the file; the message says which."""


async def ruff_json(text: str, path: str, options: Sequence[str] = (), timeout_s: float = TIMEOUT_S) -> list:
    """`ruff check`'s JSON findings for `text` as if it were the file at `path`, as ruff gives
    them (the CLI shows them as diagnostics too)."""
    ruff = tools.which("ruff")
    if ruff is None:
        raise Unavailable("ruff not found")
    argv = [ruff, "check", *options, "--output-format", "json", "--exit-zero", "--quiet",
            "--stdin-filename", path, "-"]
    try:
        return json.loads(await tools.run_program(argv, text, timeout_s) or "[]")
    except (tools.ToolFailure, ValueError) as exc:
        raise Unavailable(f"ruff could not check it ({exc})") from None


async def ruff_check(text: str, path: str, select: Sequence[str] = SELECT) -> list[Finding]:
    """ruff's findings for `text` as if it were the file at `path` (`--isolated`: the same rules
    on every machine, whatever the project's settings)."""
    found = await ruff_json(text, path, ("--isolated", "--select", ",".join(select)))
    try:
        return [Finding(str(f.get("code") or "syntax"), str(f.get("message", "")),
                        int((f.get("location") or {}).get("row") or 0)) for f in found]
    except (ValueError, TypeError, AttributeError) as exc:
        raise Unavailable(f"ruff could not check it ({exc})") from None


def introduced(before: Sequence[Finding], after: Sequence[Finding], before_parses: bool,
               edited: tuple[int, int]) -> list[Finding]:
    """Findings in `after` that `before` did not have. When `before` does not parse, ruff reports
    only the syntax error, so the findings inside the edited lines (1-based, inclusive) count."""
    if not before_parses:
        return [f for f in after if edited[0] <= f.row <= edited[1] and f.code != "syntax"]
    left = Counter((f.code, f.message) for f in before)
    out = []
    for f in after:
        key = (f.code, f.message)
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(f)
    return out


def still_reported(before: Sequence[Finding], after: Sequence[Finding],
                   diagnostics: Sequence[Diagnostic]) -> list[str]:
    """The ruff codes a `fix` was for that are not reported fewer times by the number it was
    asked to remove."""
    wanted = Counter(d.code for d in diagnostics if d.source and d.source.lower() == "ruff" and d.code)
    counts = [Counter(f.code for f in found) for found in (before, after)]
    return sorted(code for code, n in wanted.items() if counts[1][code] > counts[0][code] - n)


def ruff_codes(diagnostics: Sequence[Diagnostic]) -> tuple[str, ...]:
    return tuple(sorted({d.code for d in diagnostics if d.source and d.source.lower() == "ruff" and d.code}))


async def format_left_as_is(text: str, path: str, lines: tuple[int, int], cwd: str | None) -> bool | None:
    """Would `ruff format` (with the project's settings) leave lines `lines` (1-based) of `text`
    as they are? None when ruff cannot tell."""
    ruff = tools.which("ruff")
    if ruff is None:
        return None
    argv = [ruff, "format", "--quiet", f"--range={lines[0]}:1-{max(lines)}:100000", "--stdin-filename", path, "-"]
    try:
        out = await tools.run_program(argv, text, TIMEOUT_S, cwd=cwd)
    except tools.ToolFailure:
        return None
    return not changes_inside(text, out, lines)


def changes_inside(text: str, formatted: str, lines: tuple[int, int]) -> bool:
    """Does `formatted` differ from `text` within lines `lines` (1-based, inclusive)? Blank
    lines ruff adds at the selection's edges (two before the next `def`) are outside it."""
    import difflib

    first, last = lines[0] - 1, lines[1]
    ops = difflib.SequenceMatcher(None, text.splitlines(), formatted.splitlines(), autojunk=False).get_opcodes()
    for tag, i1, i2, _, _ in ops:
        if tag == "equal":
            continue
        if (i1 < i2 and i1 < last and i2 > first) or (i1 == i2 and first < i1 < last):
            return True
    return False
