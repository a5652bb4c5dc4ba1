"""The project's own linter (`checks.lint_command`, per language) before and after the edit, on a
scratch copy: a result that makes it report something it did not report before is rejected.

Its output is compared line by line as a multiset, with the numbers (line, column) masked: an
edit shifts lines, and a problem that was already there must not block the answer. The exit
status is not used (linters exit non-zero whenever they report anything).
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections import Counter
from pathlib import Path

from routerls.checks.scratch import RunFolder, TooBig, copy, manifest

_NUMBERS = re.compile(r"\d+")


def _normal(output: str) -> Counter[str]:
    return Counter(_NUMBERS.sub("#", line.strip()) for line in output.splitlines() if line.strip())


async def verify(root: Path, rel: str, before: str, after: str, command: str, *, timeout_s: float,
                 max_bytes: int) -> tuple[str | None, str]:
    """(why the result must not be applied or None, what ran)."""
    program = shlex.split(command)[0]
    argv = [part.replace("{file}", rel) for part in shlex.split(command)]
    try:
        listing = await asyncio.to_thread(manifest, root, max_bytes)
    except TooBig as exc:
        return None, f"{program} not run: {exc}"
    outputs = []
    with RunFolder() as folder:
        await asyncio.to_thread(copy, root, listing, folder.work)
        for text in (before, after):
            (folder.work / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder.work / rel).write_text(text, encoding="utf-8", newline="")
            ran = await folder.run(argv, timeout_s)
            if ran.returncode is None:
                return None, f"{program} not used: it ran past {timeout_s:g} s"
            if ran.returncode == 127:
                return None, f"{program} not run ({ran.output.splitlines()[-1][:120] if ran.output else 'not found'})"
            outputs.append(ran.output)
    new = list((_normal(outputs[1]) - _normal(outputs[0])).elements())
    if new:
        return (f"{program} reports {len(new)} new problem{'s' if len(new) > 1 else ''}: {new[0][:160]}",
                f"{program}: {len(new)} new")
    return None, f"{program}: nothing new"
