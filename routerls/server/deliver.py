"""Landing a result in the editor: an edit goes out as a versioned `workspace/applyEdit`
(rebased when the document moved on elsewhere, kept for `reapply` when it cannot be), and
markdown opens as a document or a message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.uris import from_fs_path, to_fs_path

from routerls import actions as actions_mod
from routerls.paths import data_dir
from routerls.server import outcomes_watch
from routerls.server.ranges import to_lsp
from routerls.server.session import ClientTimeout, Kept, RouterServer

log = logging.getLogger("routerls")


async def apply(ls: RouterServer, kept: Kept) -> tuple[str, str | None]:
    """Send the result as a versioned applyEdit, rebased when the document moved on elsewhere.
    Returns (status state, message)."""
    from routerls.edits import rebase_edits

    edit = kept.result.edit
    edits, version = list(edit.edits), kept.version
    doc = ls.workspace.text_documents.get(kept.uri)
    if edits and doc is not None and doc.version != kept.version:
        rebased = rebase_edits(kept.text, doc.source, kept.range, edits, ls.encoding)
        if rebased is None:
            ls.keep(kept)
            message = (f"not applied: {Path(to_fs_path(kept.uri) or kept.uri).name} changed where the "
                       f"edit goes while the model was working; run routerls.run with "
                       f"{{\"reapply\": \"{kept.result.request_id}\"}} to apply it if it still fits")
            ls.notify_user(T.MessageType.Warning, f"routerls: {message}")
            return "error", message
        edits, version = list(rebased), doc.version
        log.info("rebased %d edit(s) from version %s to %s", len(edits), kept.version, version)
    workspace_edit = build_edit(kept.uri, version, edits, edit.create)
    before = doc.source if doc is not None and edits else None
    try:
        answer = await ls.ask(ls.workspace_apply_edit_async(
            T.ApplyWorkspaceEditParams(edit=workspace_edit, label=f"routerls: {kept.result.plan.action.title}")),
            "applyEdit")
    except ClientTimeout as exc:
        ls.notify_user(T.MessageType.Error, f"routerls: {exc}")
        return "error", str(exc)
    applied = bool(getattr(answer, "applied", False))
    if not applied:
        reason = getattr(answer, "failure_reason", None) or "no reason given"
        return "error", f"the editor did not apply the edit: {reason}"
    ls.kept.pop(kept.result.request_id, None)
    if before is not None:
        outcomes_watch.watch(ls, kept, before, edits)
    return "done", None


def build_edit(uri: str, version: int | None, edits, create) -> T.WorkspaceEdit:
    """Text edits on the version the request saw, and a new file created (never overwritten)."""
    text_edits = [T.TextEdit(range=to_lsp(e.range), new_text=e.new_text) for e in edits]
    changes: list[Any] = []
    if text_edits:
        changes.append(T.TextDocumentEdit(
            text_document=T.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=text_edits))
    if create is not None:
        new_uri = from_fs_path(str(create.path)) or str(create.path)
        changes.append(T.CreateFile(uri=new_uri, options=T.CreateFileOptions(overwrite=False, ignore_if_exists=False)))
        changes.append(T.TextDocumentEdit(
            text_document=T.OptionalVersionedTextDocumentIdentifier(uri=new_uri, version=None),
            edits=[T.TextEdit(range=T.Range(T.Position(0, 0), T.Position(0, 0)), new_text=create.text)]))
    return T.WorkspaceEdit(document_changes=changes)


async def show_markdown(ls: RouterServer, action: actions_mod.Action, request_id: str, markdown: str) -> None:
    """Markdown results (explain, design) open as a `.md` file under the data dir when the client
    can `window/showDocument` — a long explanation reads better as a document than as a toast —
    and otherwise go out as `window/showMessage`. The command result carries the text either way."""
    if ls.capability("window.show_document.support", False):
        folder = data_dir() / "results"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{action.name}-{request_id[:12]}.md"
            path.write_text(markdown, encoding="utf-8")
            shown = await ls.ask(ls.window_show_document_async(
                T.ShowDocumentParams(uri=from_fs_path(str(path)) or str(path), take_focus=True)),
                "showDocument")
            if getattr(shown, "success", False):
                return
        except (OSError, ClientTimeout) as exc:
            log.warning("showing %s as a document failed: %s", action.name, exc)
    ls.window_show_message(T.ShowMessageParams(type=T.MessageType.Info, message=markdown))
