"""A model's answer → the edit it would make, or why it must not land.

The edit is built from the answer's text (`edits.build_result`), a new file is kept inside the
workspace, and a code result passes the checks of `checks/`; a failure is the reason the engine
rejects the answer and asks a stronger tier.
"""

from __future__ import annotations

import attrs

from routerls import actions as actions_mod
from routerls import checks
from routerls import edits as edits_mod
from routerls.actions import Action
from routerls.config import ChecksSettings
from routerls.context import Context
from routerls.request import RunRequest
from routerls.text import Position, Range


@attrs.frozen
class Verdict:
    edit: edits_mod.EditResult | None
    failure: str | None  # why it must not be applied; None: apply it
    summary: str = ""  # what the checks ran and said (the ledger's `checks`)


async def vet(req: RunRequest, action: Action, ctx: Context, text: str,
              settings: ChecksSettings) -> Verdict:
    """The edit `text` makes to the request's document, checked."""
    try:
        edit = edits_mod.build_result(
            action.result, req.text, req.range, text, path=req.path, language_id=req.language_id,
            encoding=req.encoding, workspace_root=req.workspace_root)
        edit = contained(edit, req)
        outcome = await verify(req, action, ctx, edit, settings)
    except edits_mod.EditError as exc:
        return Verdict(None, str(exc))
    return Verdict(edit, outcome.failure, outcome.summary)


def contained(edit: edits_mod.EditResult, req: RunRequest) -> edits_mod.EditResult:
    """A new file's path as it will really be written (symlinks resolved), or EditError when
    that is outside the workspace: the CLI and the editor then name the file they write."""
    if edit.create is None:
        return edit
    from routerls.files import FileRefused, new_file_target

    try:
        real = new_file_target(edit.create.path, req.workspace_root)
    except FileRefused as exc:
        raise edits_mod.EditError(f"no new file written: {exc}") from None
    return attrs.evolve(edit, create=attrs.evolve(edit.create, path=str(real)))


async def verify(req: RunRequest, action: Action, ctx: Context, edit: edits_mod.EditResult,
                 settings: ChecksSettings) -> checks.Outcome:
    """The checks of `checks/` on a code result; a failure is why it must not be applied."""
    if edit.markdown is not None:
        return checks.Outcome(None)
    rng = ctx.range
    before_sel = ctx.selection
    after = edits_mod.apply_edits(req.text, edit.edits, req.encoding) if edit.edits else req.text
    after_sel = edits_mod.apply_edits(before_sel, _relative(edit.edits, rng), req.encoding) \
        if _inside(edit.edits, rng) else after
    builtin = any(a.name == action.name for a in actions_mod.BUILTIN)
    subject = checks.Subject(
        action=action.name, result=action.result, builtin=builtin,
        language=req.language_id, path=req.path, before_doc=req.text, after_doc=after,
        before_sel=before_sel, after_sel=after_sel, first_line=rng.start.line,
        diagnostics=tuple(ctx.diagnostics), workspace_root=req.workspace_root,
        new_file=(str(edit.create.path), edit.create.text) if edit.create is not None else None)
    return await checks.run(subject, settings)


def _inside(edits, rng: Range) -> bool:
    return all(rng.start <= e.range.start and e.range.end <= rng.end for e in edits)


def _relative(edits, rng: Range):
    """Edits moved from document positions to positions within the range's own text."""

    def rel(p: Position) -> Position:
        return Position(p.line - rng.start.line,
                        p.character - rng.start.character if p.line == rng.start.line else p.character)

    return [attrs.evolve(e, range=Range(rel(e.range.start), rel(e.range.end))) for e in edits]
