"""Whether a result does what its case asks, judged by a program, never a model's opinion:
the case's tests run in a child Python with a timeout, in a temporary folder."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

from routerls.checks.parse import same_program
from routerls.eval.cases import Case

EXEC_TIMEOUT_S = 10.0


async def run_python(source: str, timeout_s: float = EXEC_TIMEOUT_S) -> tuple[bool, str]:
    """Run `source` in a child Python (isolated mode, a fresh temporary folder, its own process
    group so a runaway is killed with its children). (passed, the last line of its stderr)."""
    with tempfile.TemporaryDirectory(prefix="routerls-eval-") as tmp:
        script = Path(tmp) / "case.py"
        script.write_text(source, encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(script), cwd=tmp, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return False, f"timed out after {timeout_s:g} s"
    if proc.returncode == 0:
        return True, ""
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    return False, (lines[-1].strip() if lines else f"exit status {proc.returncode}")[:200]


async def _ruff_format(source: str) -> str | None:
    from routerls.backends.tools import which

    ruff = which("ruff")
    if ruff is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        ruff, "format", "--isolated", "--quiet", "-", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(source.encode()), 20)
    return out.decode() if proc.returncode == 0 else None


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:]
    return ast.dump(tree)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


async def check(case: Case, result: str) -> tuple[bool, str]:
    """Does `result` (the whole document after the edit) do what the case asks?"""
    tree = _parse(result)
    if tree is None:
        return False, "the result does not parse"
    if case.action == "docstring":
        before = _parse(case.code)
        if before is None or _without_docstrings(before) != _without_docstrings(_parse(result)):
            return False, "the code changed, not only its docstrings"
        missing = [n.name for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and not (ast.get_docstring(n) or "").strip()]
        return (not missing), (f"no docstring on {', '.join(missing)}" if missing else "")
    if case.action == "format":
        if not same_program(case.code, result):
            return False, "the syntax tree changed"
        formatted = await _ruff_format(result)
        if formatted is None:
            return False, "ruff is not available to check the format"
        return formatted == result, ("" if formatted == result else "ruff format would still change it")
    if case.action == "refactor" and same_program(case.code, result):
        return False, "the code was left as it was"
    if not case.test:
        return True, ""
    return await run_python(f"{result}\n\n{case.test}")
