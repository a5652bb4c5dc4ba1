"""Files the server or the CLI touch on disk: reads bounded, writes kept inside the workspace.

Documents normally come from the editor. When one has to be read from disk (a URI the client
never opened, a file named on the command line) or written (a `new_file` result such as the
`tests` action's file), the workspace is untrusted input: a URI may name `/dev/zero` or a FIFO,
a repository may ship `tests -> /elsewhere`. So a read must be a regular file under the root,
at most `limits.max_file_bytes`; a new file's path, symlinks followed, must stay under the root.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024


class FileRefused(Exception):
    """A path the server will not read or write; the message says why and what to do."""


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_text(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None,
              max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """The text of a regular file under `root` (symlinks followed), at most `max_bytes`.

    Opened without blocking and checked on the open descriptor, so a FIFO cannot hang the
    server and a file swapped after the check cannot slip through; at most `max_bytes + 1`
    bytes are ever read."""
    given = Path(path)
    try:
        real = given.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise FileRefused(f"{given}: {getattr(exc, 'strerror', None) or exc}") from None
    if root is not None:
        real_root = Path(root).resolve()
        if not _inside(real, real_root):
            raise FileRefused(f"{given}: outside the workspace {real_root}; open it in the editor "
                              "or run routerls from its project")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(f"{given}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{given}: not a regular file; only regular files are read from disk")
        if info.st_size > max_bytes:
            raise FileRefused(f"{given}: {info.st_size} bytes is over the {max_bytes}-byte limit "
                              "(limits.max_file_bytes)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew after the check
        raise FileRefused(f"{given}: over the {max_bytes}-byte limit (limits.max_file_bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{given}: not UTF-8 text (byte {exc.start})") from None


def new_file_target(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> Path:
    """Where a new file at `path` would really be written, refused unless it lies under `root`.

    `..` and absolute paths are judged after resolving; every symlink on the way is followed;
    a dangling symlink (whose target the write would create) and an existing file are refused.
    Without a root (a file outside any workspace) only the dangling-link and existing-file rules
    apply."""
    given = Path(path)
    if not given.is_absolute() and root is not None:
        given = Path(root) / given
    if given.is_symlink() and not given.exists():
        raise FileRefused(f"{path}: a dangling symlink (to {os.readlink(given)}); not written")
    if given.exists() or given.is_symlink():
        raise FileRefused(f"{path}: already exists; not overwritten")
    real = given.resolve()  # follows every link on the way, existing or not
    if root is not None:
        real_root = Path(root).resolve()
        if not _inside(real, real_root):
            raise FileRefused(f"{path}: resolves to {real}, outside the workspace {real_root} "
                              "(a symlink or '..' on the way); not written")
    return real


def write_new(path: str | os.PathLike[str], text: str, root: str | os.PathLike[str] | None) -> Path:
    """Create a new file inside the workspace (see `new_file_target`); returns the real path.

    Parent folders are created one by one, each checked to stay inside, and the file is
    created with O_EXCL | O_NOFOLLOW so a link planted between check and write is not followed."""
    real = new_file_target(path, root)
    real_root = Path(root).resolve() if root is not None else None
    missing = [p for p in [real.parent, *real.parent.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        if real_root is not None and not _inside(folder.resolve(), real_root):
            raise FileRefused(f"{folder}: outside the workspace {real_root}; not written")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags, 0o666)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return real
