"""A scratch copy of the workspace, and programs run in it offline, in their own process group,
with a timeout. The user's tree is only read: nothing runs there and nothing is written there.

Layout of one run folder: `work/` (the copy), `home/` and `tmp/` (HOME and TMPDIR of the
program), `*.jsonl` (reports). Where the kernel allows unprivileged namespaces, the program sees
every file system read-only except the run folder, and has no network (`_isolation`), whatever
language it is in; the guard (guard/sitecustomize.py) also holds a Python program to that.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

import attrs

GUARD = Path(__file__).with_name("guard")
# folders never copied (nor searched for tests): VCS, environments, caches, dependencies, builds
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__",
                       ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build",
                       "dist", "target", ".idea", ".vscode", "site-packages", ".eggs"})
MAX_FILE_BYTES = 2_000_000
MAX_FILES = 5_000
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")


class TooBig(Exception):
    """The workspace is too big to copy for a check; the message says how big."""


def walk(root: Path) -> Iterator[Path]:
    """Files under `root` (relative), skipping the folders above and hidden ones; links not followed."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                         and not d.endswith(".egg-info"))
        for name in sorted(files):
            yield Path(folder, name).relative_to(root)


def manifest(root: Path, max_bytes: int) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime) of every file a copy takes; raises `TooBig`."""
    out, total = [], 0
    for rel in walk(root):
        try:
            st = (root / rel).stat()
        except OSError:
            continue
        if not (root / rel).is_file() or st.st_size > MAX_FILE_BYTES:
            continue
        total += st.st_size
        out.append((rel.as_posix(), st.st_size, st.st_mtime_ns))
        if len(out) > MAX_FILES or total > max_bytes:
            raise TooBig(f"the workspace has more than {min(len(out), MAX_FILES)} files or "
                         f"{max_bytes // 1_000_000} MB to copy")
    return out


def copy(root: Path, files: Sequence[tuple[str, int, int]], dest: Path) -> None:
    for rel, _, _ in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(root / rel, target)


# Inside new user, mount and network namespaces: every mount read-only but /dev, /proc, /sys and
# the run folder ($1), then the program. Mounts made in the namespace vanish with it.
_SANDBOX = r"""
run="$1"; shift
here="$(pwd)"
mount --rbind / / || exit 97
while read -r _ m _; do
  case "$m" in /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null;; esac
done < /proc/self/mounts
mount --bind "$run" "$run" && mount -o remount,bind,rw "$run" || exit 97
cd "$here" || exit 97
exec "$@"
"""


@functools.cache
def _isolation() -> tuple[str, ...]:
    """The strongest isolation this kernel allows an unprivileged process: a read-only view of
    every file system but the run folder, and no network (`unshare -rmn` + bind mounts); else no
    network only (`unshare -rn`); else nothing (the Python guard still applies)."""
    program = shutil.which("unshare")
    if program is None:
        return ()
    with tempfile.TemporaryDirectory(prefix="routerls-probe-") as probe:
        candidates = [(program, "-rmn", "--", "sh", "-c", _SANDBOX, "routerls-sandbox", "{run}"),
                      (program, "-rn", "--")]
        for prefix in candidates:
            argv = [part.replace("{run}", probe) for part in prefix]
            try:
                done = subprocess.run([*argv, "sh", "-c", f"touch {probe}/ok && ! touch /.routerls-probe 2>/dev/null"
                                       if "-rmn" in prefix else "true"],
                                      check=False, capture_output=True, timeout=10)
            except (OSError, subprocess.SubprocessError):
                continue
            if done.returncode == 0:
                return prefix
    return ()


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")


def project_of(root: Path, rel: str) -> str:
    """The folder (relative to `root`) of the nearest project above the file `rel` — one with a
    pyproject.toml, setup.py or setup.cfg — below the root; "" for the root itself or none."""
    parts = Path(rel).parts[:-1]
    for n in range(len(parts), 0, -1):
        folder = Path(*parts[:n])
        if any((root / folder / marker).is_file() for marker in PROJECT_MARKERS):
            return folder.as_posix()
    return ""


def offline_prefix(run: Path) -> list[str]:
    return [part.replace("{run}", str(run)) for part in _isolation()]


@attrs.frozen
class Ran:
    returncode: int | None  # None: killed at the timeout
    seconds: float
    output: str  # the last lines of stdout and stderr


class RunFolder:
    """One run folder (see the module docstring); removed on exit."""

    def __init__(self, root: Path | None = None, rel: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="routerls-check-"))
        self.work = self.path / "work"
        # as `python -m pytest` run from the edited file's project (a package of a monorepo):
        # its folder and its src/ are importable, beside the workspace root's
        project = project_of(root, rel) if root is not None and rel is not None else ""
        self.imports = [self.work, self.work / "src"]
        if project:
            self.imports += [self.work / project, self.work / project / "src"]
        for sub in (self.work, self.path / "home", self.path / "tmp"):
            sub.mkdir()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def env(self, report: Path | None = None) -> dict[str, str]:
        """A small environment: no proxies, no keys, HOME and TMPDIR inside the run folder."""
        keep = ("PATH", "LANG", "LC_ALL", "TERM", "SYSTEMROOT")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(HOME=str(self.path / "home"), TMPDIR=str(self.path / "tmp"),
                   PYTHONPATH=os.pathsep.join(str(p) for p in (GUARD, *self.imports)),
                   PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1", PYTHONHASHSEED="0",
                   ROUTERLS_GUARD_ROOTS=str(self.path), NO_PROXY="*", no_proxy="*",
                   # the plugins installed beside routerls are not the project's (and cost seconds)
                   PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        if report is not None:
            env["ROUTERLS_PROBE_OUT"] = str(report)
        return env

    async def run(self, argv: Sequence[str], timeout_s: float, report: Path | None = None) -> Ran:
        """Run `argv` in the copy, offline, in its own process group; killed whole at the
        timeout or when the caller is cancelled."""
        started = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *offline_prefix(self.path), *argv, cwd=self.work, env=self.env(report),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return Ran(127, 0.0, f"{argv[0]} could not start ({exc.strerror})")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return Ran(None, time.perf_counter() - started, "")
        tail = out.decode(errors="replace").strip().splitlines()[-20:]
        return Ran(proc.returncode, time.perf_counter() - started, "\n".join(tail))
