"""`FILE[:L1[-L2]]` from the command line → a `RunRequest`, with the diagnostics an editor's
Python linters would give, so `fix` has something to aim at.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from routerls.commands.workspace import UsageError, read_file
from routerls.text import language_of

RUFF_TIMEOUT_S = 20.0  # a whole file, once per command


def parse_target(target: str):
    """`FILE[:L1[-L2]]` (1-based, inclusive) → (path, first line, last line or None)."""
    m = re.fullmatch(r"(.+?)(?::(\d+)(?:-(\d+))?)?", target)
    assert m is not None
    path = Path(m.group(1))
    first = int(m.group(2)) if m.group(2) else None
    last = int(m.group(3)) if m.group(3) else first
    if first is not None and (first < 1 or (last is not None and last < first)):
        raise UsageError(f"{target}: lines are 1-based and L1 ≤ L2")
    return path, first, last


def python_diagnostics(text: str, path: Path):
    """What an editor's Python linters would report: syntax errors, then ruff's findings (with
    the project's settings), so `fix` has something to aim at from a terminal (and the tools
    tier knows what it can fix)."""
    from routerls.checks.findings import Unavailable, ruff_json
    from routerls.context import Diagnostic
    from routerls.text import Range

    try:
        compile(text, "<file>", "exec")
    except SyntaxError as exc:
        line = max((exc.lineno or 1) - 1, 0)
        col = max((exc.offset or 1) - 1, 0)
        return (Diagnostic(Range.of(line, col, line, col + 1), f"SyntaxError: {exc.msg}", 1, "E999", "python"),)
    try:
        found = asyncio.run(ruff_json(text, str(path), timeout_s=RUFF_TIMEOUT_S))
    except Unavailable:
        return ()
    return tuple(
        Diagnostic(Range.of(f["location"]["row"] - 1, f["location"]["column"] - 1,
                            f["end_location"]["row"] - 1, f["end_location"]["column"] - 1),
                   f["message"], 2, f.get("code"), "ruff")
        for f in (found if isinstance(found, list) else ()) if f.get("location") and f.get("end_location"))


def build_request(args, workspace: Path, config):
    from routerls.request import RunRequest
    from routerls.text import Range, split_lines

    path, first, last = parse_target(args.file)
    text = read_file(path, workspace, config)
    lines = split_lines(text)
    if first is None:
        rng = Range.of(0, 0, len(lines) - 1, len(lines[-1]))
    else:
        if first > len(lines):
            raise UsageError(f"{path} has {len(lines)} lines; line {first} does not exist")
        last = min(last or first, len(lines))
        rng = Range.of(first - 1, 0, last, 0) if last < len(lines) else Range.of(first - 1, 0, last - 1, len(lines[-1]))
    language = language_of(path)
    diagnostics = python_diagnostics(text, path.resolve()) if language == "python" else ()
    return RunRequest(action=args.action, path=str(path.resolve()), text=text, range=rng,
                      language_id=language, diagnostics=diagnostics, tier=args.tier,
                      instruction=args.instruction, workspace_root=str(workspace))
