"""The `tools` tier: deterministic programs (ruff, prettier, gofmt, …) that answer before any model.

A tool reads the document on standard input and writes the result on standard output. Its
output is never trusted blindly: it must exit 0, a Python result must parse, a `format` result
must keep the AST equal, and only edits inside the selection's whole statements are kept. Any
failure returns a `ToolFailure` whose message becomes part of the route's reason, and the
request falls through to the model tiers.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from routerls.checks.parse import python_error, same_program
from routerls.text import Position, Range, line_starts, split_lines

if TYPE_CHECKING:
    from routerls.config import Config, ToolEntry
    from routerls.context import Diagnostic
    from routerls.edits import TextEdit

TIER = "tools"


@attrs.frozen
class Pick:
    """The tool for a request, or why there is none (`note`, for the reason)."""

    entry: ToolEntry | None
    note: str | None = None


@attrs.frozen
class ToolResult:
    edits: tuple[TextEdit, ...]
    program: str  # "ruff 0.17.6": what the ledger names as the model
    latency_ms: float


class ToolFailure(Exception):
    """The tool could not serve this request; the message says why, for the status reason."""


# --- finding programs ------------------------------------------------------------------------

def _search_path() -> str:
    """PATH, then the running interpreter's scripts dir, where a pinned `ruff` dependency lives
    even when the editor starts `.venv/bin/routerls` without activating the venv."""
    extra = os.environ.get("ROUTERLS_TOOLS_EXTRA_PATH", sysconfig.get_path("scripts") or "")
    return os.pathsep.join(p for p in (os.environ.get("PATH", ""), extra) if p)


@functools.lru_cache(maxsize=64)
def _which(program: str, search: str) -> str | None:
    return shutil.which(program, path=search)


def which(program: str) -> str | None:
    return _which(program, _search_path())


@functools.lru_cache(maxsize=64)
def version(path: str) -> str:
    """`ruff 0.17.6`: the program and its version, for the ledger."""
    name = os.path.basename(path)
    try:
        out = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return name
    first = out.strip().splitlines()[0] if out.strip() else ""
    return first if first.lower().startswith(name.lower()) else f"{name} {first}".strip()


def lookup(config: Config, action: str, language: str) -> ToolEntry | None:
    return config.tools.get(action, {}).get(language)


def _ignored_note(config: Config, action: str, language: str) -> str | None:
    """Why a tool the workspace named does not run: it needs trust (see `trust.py`)."""
    wanted = f"tools.{action}.{language}"
    for i in config.workspace.ignored:
        if i.path in ("tools", f"tools.{action}", wanted):
            return f"{i.path} of {i.where} ignored (untrusted workspace; `routerls trust`)"
    return None


def pick(config: Config, action: str, language: str) -> Pick:
    """The configured tool for this action and language, if its program is found (cached)."""
    entry = lookup(config, action, language)
    if entry is None:
        return Pick(None, _ignored_note(config, action, language))
    if which(entry.command[0]) is None:
        return Pick(None, f"{entry.command[0]} not found")
    return Pick(entry)


# --- statements ------------------------------------------------------------------------------

def statement_lines(text: str, rng: Range, language: str) -> tuple[int, int]:
    """0-based inclusive lines of the smallest block of whole statements covering `rng`.

    An empty range means the whole document. Python uses its AST; other languages, whose
    statements we cannot see, get the selection's whole lines.
    """
    lines = split_lines(text)
    last_line = len(lines) - 1
    if rng.is_empty:
        return 0, last_line
    first, last = rng.start.line, rng.end.line
    if rng.end.character == 0 and last > first:
        last -= 1  # a selection ending at column 0 does not include that line
    if language != "python":
        return first, last
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return first, last
    span = _block(tree.body, first + 1, last + 1)
    return (span[0] - 1, span[1] - 1) if span else (first, last)


def _start(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _block(body: Sequence[ast.stmt], first: int, last: int) -> tuple[int, int] | None:
    hits = [s for s in body if _start(s) <= last and (s.end_lineno or s.lineno) >= first]
    if not hits:
        return None
    if len(hits) == 1:
        stmt = hits[0]
        for child in _bodies(stmt):
            if child and _start(child[0]) <= first and (child[-1].end_lineno or 0) >= last:
                inner = _block(child, first, last)
                if inner:
                    return inner
    return _start(hits[0]), hits[-1].end_lineno or hits[-1].lineno


def _bodies(stmt: ast.stmt) -> list[list[ast.stmt]]:
    out = [getattr(stmt, name) for name in ("body", "orelse", "finalbody")
           if isinstance(getattr(stmt, name, None), list)]
    out += [h.body for h in getattr(stmt, "handlers", [])]
    out += [c.body for c in getattr(stmt, "cases", [])]
    return out


# --- running ---------------------------------------------------------------------------------

def _argv(command: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The command with placeholders filled and the program resolved as `which` finds it."""
    argv = [part.format_map(values) if "{" in part else part for part in command]
    argv[0] = which(argv[0]) or argv[0]
    return argv


async def run_program(argv: list[str], stdin: str, timeout_s: float, cwd: str | None = None) -> str:
    """Run a program on `stdin`; its own process group, killed whole on timeout or cancel."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, cwd=cwd)
    except OSError as exc:
        raise ToolFailure(f"{argv[0]} could not start ({exc.strerror})") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout_s)
    except (TimeoutError, asyncio.CancelledError) as exc:
        _kill(proc)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise ToolFailure(f"{os.path.basename(argv[0])} timed out after {timeout_s:g}s") from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        raise ToolFailure(f"{os.path.basename(argv[0])} exited {proc.returncode}"
                          + (f": {detail[-1][:200]}" if detail else ""))
    return out.decode()


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


async def fixable(entry: ToolEntry, text: str, values: Mapping[str, str], diagnostics: Sequence[Diagnostic]) -> bool:
    """Can the tool fix every diagnostic in the range? Asked of the tool itself (`fixable`
    prints ruff-style JSON: one object per finding, with `code`, `location.row` and `fix`)."""
    if not entry.fixable or not diagnostics or any(not d.code for d in diagnostics):
        return False
    out = await run_program(_argv(entry.fixable, values), text, entry.timeout_s)
    try:
        found = json.loads(out or "[]")
        can = {(f["code"], f["location"]["row"]) for f in found if f.get("fix")}
    except (ValueError, KeyError, TypeError):
        raise ToolFailure(f"{entry.name} gave unreadable JSON about fixable rules") from None
    return all((d.code, d.range.start.line + 1) in can for d in diagnostics)


async def run(entry: ToolEntry, action: str, text: str, rng: Range, *, path: str, language: str,
              encoding: str, diagnostics: Sequence[Diagnostic] = ()) -> ToolResult:
    """Run the tool on the whole document and keep only its edits inside the selection's
    statements; check the result before anyone sees it."""
    from time import perf_counter

    from routerls.edits import apply_edits, minimal_edits

    started = perf_counter()
    program = which(entry.command[0])
    if program is None:
        raise ToolFailure(f"{entry.command[0]} not found")
    codes = ",".join(sorted({d.code for d in diagnostics if d.code}))
    values = {"path": path, "language": language, "codes": codes or "ALL"}
    output = await run_program(_argv(entry.command, values), text, entry.timeout_s)
    if not output.strip() and text.strip():
        raise ToolFailure(f"{entry.name} returned nothing")
    output = _same_line_endings(text, output)
    first, last = statement_lines(text, rng, language)
    lines = split_lines(text)
    whole = Range(Position(0, 0), Position(len(lines) - 1, len(lines[-1])))
    # an edit may start anywhere in the statements and end at most at the start of the next
    # line (deleting a whole statement takes its line break); nothing is inserted after them
    block_start, block_end = Position(first, 0), Position(last, len(lines[last]))
    limit = Position(last + 1, 0) if last + 1 < len(lines) else block_end
    edits = tuple(e for e in minimal_edits(text, whole, output, encoding)
                  if block_start <= e.range.start <= block_end and e.range.end <= limit)
    result = apply_edits(text, edits, encoding)
    if language == "python":
        _check_python(text, result, keep_ast=(action == "format"), name=entry.name)
    return ToolResult(edits, version(program), (perf_counter() - started) * 1000)


def _same_line_endings(original: str, output: str) -> str:
    if "\r\n" in original and "\r\n" not in output:
        return output.replace("\n", "\r\n")
    return output


def _check_python(before: str, after: str, *, keep_ast: bool, name: str) -> None:
    if (err := python_error(after)) is not None:
        raise ToolFailure(f"{name}'s result does not parse ({err.msg}, line {err.lineno})")
    if keep_ast and not same_program(before, after):
        raise ToolFailure(f"{name} changed what the code means (AST differs); not applied")


def counterfactual_tokens(text: str, rng: Range) -> tuple[int, int]:
    """What a model would have read and written for this selection: the savings estimate."""
    from routerls.context import estimate_tokens

    starts = line_starts(text)
    first = starts[min(rng.start.line, len(starts) - 1)]
    end_line = rng.end.line + 1
    last = starts[end_line] if end_line < len(starts) else len(text)
    selected = text[first:last] if not rng.is_empty else text
    out = estimate_tokens(selected)
    return out + 200, out


