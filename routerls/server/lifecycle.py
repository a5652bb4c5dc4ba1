"""Life cycle and document sync: initialize, initialized, settings changes, saves, changes and
closes.

`initialize` answers at once: nothing here imports litellm; the gateway is warmed on a
background thread after `initialized`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from lsprotocol import types as T
from pygls.uris import to_fs_path

from routerls import __version__
from routerls.paths import data_dir
from routerls.server import outcomes_watch
from routerls.server.session import RouterServer, section


def initialize(ls: RouterServer, params: T.InitializeParams) -> None:
    if params.root_uri:
        ls.root = Path(to_fs_path(params.root_uri) or ".")
    elif params.workspace_folders:
        ls.root = Path(to_fs_path(params.workspace_folders[0].uri) or ".")
    ls.encoding = str(ls.workspace.position_encoding or "utf-16")
    ls.edit_on_resolve = not ls.capability("workspace.apply_edit", False)
    options = params.initialization_options if isinstance(params.initialization_options, Mapping) else {}
    inner = options.get("routerls") if isinstance(options.get("routerls"), Mapping) else options
    timeout = inner.get("applyEditTimeoutS", options.get("applyEditTimeoutS"))
    if isinstance(timeout, (int, float)) and timeout > 0:
        ls.client_timeout_s = float(timeout)
    ls.take_client_trust(options)
    ls.reload(section(options))


def initialized(ls: RouterServer, params: T.InitializedParams) -> None:
    ls.open_ledger()
    ls.started = True
    ls.offer_trust()

    loop = asyncio.get_event_loop()

    def warm() -> None:
        try:
            from routerls.backends import availability  # titles use it too: off codeAction's path
            from routerls.backends import litellm as gateway

            started = time.perf_counter()
            # litellm brings ~150 MB of long-lived objects: no collections while they arrive (a
            # full one stops codeAction on the loop's thread for a good part of a second), and
            # afterwards keep the collector from walking them
            gc.disable()
            try:
                # the tokenizers of the models that can answer here (a cloud model without its key
                # never counts tokens: no memory for its tables)
                gateway.warm(e.model for t in ls.config.tiers.values() for e in t.models
                             if e.model and availability.missing_key(e, os.environ) is None)
            finally:
                gc.freeze()
                gc.enable()
            message = f"routerls: model gateway ready in {time.perf_counter() - started:.1f} s"
        except Exception as exc:  # noqa: BLE001 - the first run will report it properly
            message = f"routerls: warming the model gateway failed: {exc}"
        ls.warmed.set()
        loop.call_soon_threadsafe(ls.note, message)  # the writer belongs to the loop's thread

    threading.Thread(target=warm, name="routerls-warm", daemon=True).start()
    ls.note(f"routerls {__version__} ready; position encoding {ls.encoding}; "
            f"strategy {ls.config.strategy}; data in {data_dir()}")


def did_change_configuration(ls: RouterServer, params: T.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, Mapping) and "applyEditTimeoutS" in (settings.get("routerls") or settings):
        value = (settings.get("routerls") or settings)["applyEditTimeoutS"]
        if isinstance(value, (int, float)) and value > 0:
            ls.client_timeout_s = float(value)
    ls.take_client_trust(settings)
    if ls.reload(section(settings) if settings is not None else ls.overrides):
        ls.note("routerls: configuration reloaded")


def did_save(ls: RouterServer, params: T.DidSaveTextDocumentParams) -> None:
    if params.text_document.uri.endswith("/.routerls.yaml") and ls.reload():
        ls.note("routerls: .routerls.yaml reloaded")


def did_change(ls: RouterServer, params: T.DidChangeTextDocumentParams) -> None:
    """Only while an applied edit of this document awaits its outcome: read the new text."""
    uri = params.text_document.uri
    if ls.watching is None or not any(a.uri == uri for a in ls.watching.pending):
        return
    doc = ls.workspace.text_documents.get(uri)
    if doc is not None:
        outcomes_watch.record(ls, ls.watching.changed(uri, doc.source))


def did_close(ls: RouterServer, params: T.DidCloseTextDocumentParams) -> None:
    ls.diagnostics.pop(params.text_document.uri, None)
    if ls.watching is not None:
        outcomes_watch.record(ls, ls.watching.closed(params.text_document.uri))
    if ls.engine is not None:
        ls.engine.forget(to_fs_path(params.text_document.uri) or params.text_document.uri)
