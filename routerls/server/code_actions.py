"""`textDocument/codeAction` and `codeAction/resolve`.

codeAction is on every cursor move, so it does no I/O and no context gathering: the answer is
JSON text built from cached pieces (see titles.py), written out without a cattrs pass. Each
action runs `routerls.run` with `{action, uri, range, version}`; a client without
`workspace.applyEdit` gets that object as `data`, and the edit itself on resolve.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from lsprotocol import types as T

from routerls import actions as actions_mod
from routerls.server.protocol import AsJSON
from routerls.server.ranges import from_lsp, range_json
from routerls.server.run import run
from routerls.server.session import RouterServer
from routerls.server.titles import action_json

CODE_ACTION_KINDS = [T.CodeActionKind.QuickFix, T.CodeActionKind.Refactor,
                     T.CodeActionKind.RefactorRewrite, T.CodeActionKind.Source]
OPTIONS = T.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=True, work_done_progress=True)


def code_action(ls: RouterServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    """The actions that apply here, as `CodeAction` JSON: each runs `routerls.run` with
    `{action, uri, range, version}`; for clients without applyEdit it carries that object as
    `data` instead, and the edit comes on resolve."""
    uri, rng, ctx = params.text_document.uri, params.range, params.context
    if ctx.diagnostics:
        ls.diagnostics[uri] = ctx.diagnostics
    here = from_lsp(rng)
    has_diagnostics = any(from_lsp(d.range).overlaps(here) for d in ctx.diagnostics)
    doc = ls.workspace.text_documents.get(uri)
    args = json.dumps({"uri": uri, "range": range_json(rng),
                       "version": doc.version if doc is not None else None})[1:]  # without "{"
    close = "}" if ls.edit_on_resolve else "]}}"  # the action object, or arguments + command too
    offered = actions_mod.applicable(ls.actions, has_diagnostics=has_diagnostics, only=ctx.only)
    language = (doc.language_id or "") if doc is not None else ""
    return AsJSON("[" + ", ".join(action_json(ls, a, language) + args + close for a in offered) + "]")


async def resolve_code_action(ls: RouterServer, action: T.CodeAction) -> T.CodeAction:
    """For clients without `workspace.applyEdit`: run the model now and return the edit."""
    if not isinstance(action.data, Mapping) or action.command is not None:
        return action
    outcome = await run(ls, dict(action.data), apply=False)
    if outcome.edit is not None:
        action.edit = outcome.edit
    elif outcome.state != "done" or outcome.markdown is None:
        action.disabled = T.CodeActionDisabledType(reason=outcome.message or "the model run failed")
    return action
