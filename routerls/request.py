"""What a run is asked (`RunRequest`), and the checks that refuse a request before any model
call: a range outside the document, a new file that would land outside the workspace."""

from __future__ import annotations

import attrs

from routerls import edits as edits_mod
from routerls.context import Diagnostic
from routerls.text import Range, line_starts, normalise_range


class EngineError(Exception):
    """A request that cannot run as asked: unknown action, tier or task. The message is for users."""


@attrs.frozen
class RunRequest:
    action: str
    path: str
    text: str
    range: Range
    language_id: str = "python"
    diagnostics: tuple[Diagnostic, ...] = ()
    tier: str | None = None
    instruction: str | None = None
    encoding: str = "utf-16"
    workspace_root: str | None = None
    follow_up: bool = False  # continue this document's conversation ("more detail", "that broke X")


def checked_request(req: RunRequest) -> RunRequest:
    """The request with its range made real: reversed ends swapped, an end past the document
    clamped to it. A range that starts past the end is refused: nothing there to act on."""
    lines = len(line_starts(req.text))
    first = min(req.range.start, req.range.end)
    if first.line >= lines:
        raise EngineError(f"the range starts at line {first.line + 1}, but {req.path} has {lines} "
                          "line(s); select text inside the document")
    rng = normalise_range(req.text, req.range, req.encoding)
    return req if rng == req.range else attrs.evolve(req, range=rng)


def new_file_allowed(req: RunRequest) -> None:
    """Refuse before any model call when the new file would land outside the workspace."""
    from routerls.files import FileRefused, new_file_target

    target = edits_mod.new_test_path(req.path, language_id=req.language_id, workspace_root=req.workspace_root)
    try:
        new_file_target(target, req.workspace_root)
    except FileRefused as exc:
        raise EngineError(f"no new file written: {exc}") from None
