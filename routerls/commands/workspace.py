"""What every terminal command starts from: the workspace of the file it names, its config (with
the one warning about untrusted settings), the ledger, and files read within the limits.
"""

from __future__ import annotations

import sys
from pathlib import Path


class UsageError(Exception):
    """Something the user typed or configured is wrong; exit 2 with this message."""


def _workspace_of(path: Path) -> Path:
    for parent in [path.parent, *path.parent.parents]:
        if any((parent / marker).exists() for marker in (".routerls.yaml", ".git", "pyproject.toml")):
            return parent
    return path.parent


def load(args):
    from routerls.config import ConfigError
    from routerls.layers import load_config

    workspace = _workspace_of(Path(args.file).resolve()) if getattr(args, "file", None) else Path.cwd()
    try:
        config = load_config(workspace)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    _warn_untrusted(config, workspace)
    return config, workspace


def _warn_untrusted(config, workspace: Path) -> None:
    """Once per command, on stderr: what the untrusted workspace config could not set."""
    from routerls import trust

    if config.workspace.ignored:
        print(trust.message(workspace, config.workspace.ignored), file=sys.stderr)


def open_ledger(store_prompts: bool = False):
    from routerls.ledger import Ledger, LedgerError, default_path

    try:
        return Ledger(default_path(), store_prompts=store_prompts)
    except LedgerError as exc:
        raise UsageError(str(exc)) from None


def read_file(path: Path, workspace: Path, config) -> str:
    """A file named on the command line: a regular file of the workspace, within the size limit."""
    from routerls.files import FileRefused, read_text

    try:
        return read_text(path, root=workspace, max_bytes=config.limits.max_file_bytes)
    except FileRefused as exc:
        raise UsageError(str(exc)) from None
