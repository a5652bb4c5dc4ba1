"""The server's state for one editor session, and the few ways to change it.

Config (re-layered on every settings change, the last good one kept on error), the engine and
ledger (both opened lazily: `initialize` must not wait on them), the spend as last read, the
title caches of the codeAction hot path, results kept for `reapply`, and what the editor said
about its workspace's trust. Documents are read here as snapshots: the text and version a
request saw, whether the editor has them open or not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from routerls import __version__
from routerls import actions as actions_mod
from routerls.config import Config, ConfigError
from routerls.files import FileRefused, read_text
from routerls.layers import load_config
from routerls.server.logs import Scrubber
from routerls.server.protocol import RouterProtocol
from routerls.server.status import SpendCache, status_payload
from routerls.text import Range, language_of

log = logging.getLogger("routerls")

RUN, REPORT, SET_STRATEGY = "routerls.run", "routerls.report", "routerls.setStrategy"
DASHBOARD = "routerls.dashboard"
STATUS, SPEND = "$/routerls/status", "routerls/spend"
DEFAULT_CLIENT_TIMEOUT_S = 10.0
# initializationOptions / settings keys that are not the user's config section: the server's
# own options, the workspace part of editor settings, and the editor's own workspace trust
WORKSPACE_SETTINGS, WORKSPACE_TRUSTED = "workspaceSettings", "workspaceTrusted"
SERVER_OPTIONS = ("applyEditTimeoutS", WORKSPACE_SETTINGS, WORKSPACE_TRUSTED)
TRUST_ACTION = "Trust this workspace's routerls config"
TRUST_ANSWER_TIMEOUT_S = 3600.0  # a person answers; the wait runs beside the server, not in it
KEPT_RESULTS = 20


@attrs.define
class Kept:
    """A result that could not be applied because the document moved on; `reapply` retries."""

    uri: str
    text: str
    version: int | None
    range: Range
    result: Any  # engine.RunResult


@attrs.frozen
class Snapshot:
    """A document as a request saw it: the text a result is computed on, and the version its
    edit must name (None for a file the editor does not have open)."""

    uri: str
    path: str
    text: str
    version: int | None
    language_id: str
    was_open: bool


class ClientTimeout(Exception):
    pass


def section(settings: Any) -> dict[str, Any]:
    """The `routerls` section of a settings object that may be `{"routerls": {...}}` or the section."""
    if not isinstance(settings, Mapping):
        return {}
    if isinstance(settings.get("routerls"), Mapping):
        settings = settings["routerls"]
    return {k: v for k, v in settings.items() if k not in SERVER_OPTIONS}


class RouterServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("routerls", __version__, protocol_cls=RouterProtocol)
        self.config: Config | None = None
        self.overrides: dict[str, Any] = {}
        self.workspace_settings: dict[str, Any] | None = None  # the workspace part of editor settings
        self.editor_trusts_workspace: bool | None = None  # VS Code's Workspace Trust, when sent
        self.trust_offered: set[tuple] = set()  # once per config content
        self.started = False  # `initialized` came: requests to the client may go out
        self.root: Path | None = None
        self.client_timeout_s = DEFAULT_CLIENT_TIMEOUT_S
        self.encoding = "utf-16"
        self.session_id = os.urandom(6).hex()
        self.ledger = None
        self.engine = None
        self.spend = SpendCache()
        self.scrub = Scrubber()
        self.actions: tuple[actions_mod.Action, ...] = ()
        # (action, language) → (title, tier, model): a language may have a tool for the action
        self.titles: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
        self.titles_json: dict[tuple[str, str], str] = {}  # the same key → the start of its CodeAction JSON
        self.diagnostics: dict[str, list[T.Diagnostic]] = {}  # last seen in codeAction contexts
        self.runs: dict[Any, asyncio.Task] = {}  # executeCommand request id → task
        self.by_token: dict[str, asyncio.Task] = {}  # progress token → task
        self.kept: OrderedDict[str, Kept] = OrderedDict()
        self.hover_cache: dict[str, str] = {}
        self.warmed = threading.Event()
        self.edit_on_resolve = False  # the client lacks workspace.applyEdit
        self.watching = None  # outcomes.Tracker: applied edits awaiting kept/undone/reworked/rerun

    # --- config ------------------------------------------------------------------------------
    def reload(self, overrides: Mapping[str, Any] | None = None) -> bool:
        """Re-layer the config; on error keep the last good one and tell the user."""
        if overrides is not None:
            self.overrides = dict(overrides)
        try:
            config = load_config(self.root, overrides=self.overrides, workspace_settings=self.workspace_settings)
        except ConfigError as exc:
            self.notify_user(T.MessageType.Error, f"routerls: config not applied, keeping the last good one: {exc}")
            if self.config is None:  # nothing good yet: the built-in defaults keep us useful
                from routerls.layers import DEFAULTS_PATH

                self.set_config(load_config(files=[DEFAULTS_PATH]))
            return False
        self.set_config(config)
        if self.started:
            self.offer_trust()
        return True

    def set_config(self, config: Config) -> None:
        self.config = config
        self.actions = actions_mod.all_actions(config)
        self.forget_titles()
        self.scrub.watch(e.api_key_env for t in config.tiers.values() for e in t.models if e.api_key_env)
        if self.engine is not None:
            self.engine.config = config
            self.engine.learned.clear()
        if self.ledger is not None:
            self.ledger.store_prompts = config.ledger.store_prompts

    def forget_titles(self) -> None:
        """Titles name the tier a run would take: a new config, spend or outcome may change it."""
        self.titles.clear()
        self.titles_json.clear()

    def get_engine(self):
        if self.engine is None:
            from routerls.engine import Engine

            self.engine = Engine(self.config, self.ledger, self.session_id)
        return self.engine

    def open_ledger(self) -> None:
        if self.ledger is not None:
            return
        try:
            from routerls.ledger import Ledger, default_path

            self.ledger = Ledger(default_path(), store_prompts=self.config.ledger.store_prompts)
        except Exception as exc:  # noqa: BLE001 - a broken ledger must not stop the editor features
            self.notify_user(T.MessageType.Warning, f"routerls: spend is not recorded: {exc}")
            return
        if self.engine is not None:
            self.engine.ledger = self.ledger
        self.refresh_spend()

    def refresh_spend(self) -> None:
        if self.ledger is not None:
            try:
                self.spend = SpendCache.of(self.ledger.spend(self.session_id))
            except Exception:
                log.exception("reading spend failed")
        # a budget may now route differently
        self.forget_titles()

    # --- documents and kept results -----------------------------------------------------------
    def snapshot(self, uri: Any) -> Snapshot:
        """The document at `uri` as the editor has it, else as it is on disk (FileRefused when
        it may not be read)."""
        doc = self.workspace.text_documents.get(uri) if isinstance(uri, str) else None
        if doc is not None:
            text, version = doc.source, doc.version
        else:
            text, version = self._read_unopened(uri), None
        path = to_fs_path(uri) or uri
        language = doc.language_id if doc is not None and doc.language_id else language_of(Path(path))
        return Snapshot(uri, path, text, version, language, was_open=doc is not None)

    def _read_unopened(self, uri: Any) -> str:
        """A document the client never opened, read from disk: only a `file:` URI of a regular file
        inside the workspace, within `limits.max_file_bytes` (the URI is untrusted input)."""
        path = to_fs_path(uri) if isinstance(uri, str) and uri.startswith("file:") else None
        if path is None:
            raise FileRefused(f"{uri!r}: not a file: URI the editor has open; open the document first")
        if self.root is None:
            raise FileRefused(f"{path}: not open in the editor, and there is no workspace folder to read it "
                              "from; open the document first")
        return read_text(path, root=self.root, max_bytes=self.config.limits.max_file_bytes)

    def keep(self, kept: Kept) -> None:
        self.kept[kept.result.request_id] = kept
        while len(self.kept) > KEPT_RESULTS:
            self.kept.popitem(last=False)

    # --- talking to the user ------------------------------------------------------------------
    def notify_user(self, kind: T.MessageType, message: str) -> None:
        message = self.scrub(message)
        log.log(logging.ERROR if kind == T.MessageType.Error else logging.INFO, "%s", message)
        self.window_show_message(T.ShowMessageParams(type=kind, message=message))

    def note(self, message: str, kind: T.MessageType = T.MessageType.Info) -> None:
        message = self.scrub(message)
        log.info("%s", message)
        self.window_log_message(T.LogMessageParams(type=kind, message=message))

    def status(self, state: str, action: actions_mod.Action, **fields: Any) -> None:
        self.protocol.notify(STATUS, status_payload(state, action=action.name, task=action.task,
                                                    spend=self.spend, **fields))

    def capability(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.client_capabilities
        for part in dotted.split("."):
            node = getattr(node, part, None)
            if node is None:
                return default
        return node

    # --- cancellation ---------------------------------------------------------------------------
    def cancel_run(self, msg_id: Any) -> None:
        task = self.runs.get(msg_id)
        if task is not None and not task.done():
            log.info("cancelling run of request %s", msg_id)
            task.cancel()

    # --- workspace trust ---------------------------------------------------------------------
    def take_client_trust(self, settings: Any) -> None:
        """Read `workspaceSettings` and `workspaceTrusted` where a client puts them: beside the
        `routerls` section or inside it."""
        if not isinstance(settings, Mapping):
            return
        for where in (settings, settings.get("routerls")):
            if not isinstance(where, Mapping):
                continue
            if isinstance(where.get(WORKSPACE_SETTINGS), Mapping):
                self.workspace_settings = section(where[WORKSPACE_SETTINGS])
            if isinstance(where.get(WORKSPACE_TRUSTED), bool):
                self.editor_trusts_workspace = where[WORKSPACE_TRUSTED]

    def offer_trust(self) -> None:
        """Say once per config content what an untrusted workspace could not set; offer to
        trust it unless the editor itself distrusts the workspace (VS Code's Restricted Mode)."""
        state = self.config.workspace if self.config is not None else None
        if state is None or not state.ignored:
            return
        key = (state.digest, tuple((i.path, i.file) for i in state.ignored), self.editor_trusts_workspace)
        if key in self.trust_offered:
            return
        self.trust_offered.add(key)
        from routerls import trust

        text = trust.message(self.root, state.ignored)
        offer = (self.root is not None and state.digest is not None and self.editor_trusts_workspace is not False
                 and any(i.file == state.file for i in state.ignored))
        if not offer:
            if self.editor_trusts_workspace is False:
                text += "\nThe editor has this workspace in restricted mode: trust the workspace there first."
            self.notify_user(T.MessageType.Warning, text)
            return
        asyncio.ensure_future(self._ask_trust(state.digest, text))

    async def _ask_trust(self, digest: str, text: str) -> None:
        from routerls import trust

        params = T.ShowMessageRequestParams(type=T.MessageType.Warning, message=self.scrub(text),
                                            actions=[T.MessageActionItem(TRUST_ACTION), T.MessageActionItem("Not now")])
        log.info("%s", params.message)
        try:
            answer = await asyncio.wait_for(self.window_show_message_request_async(params), TRUST_ANSWER_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - no answer, or a client without the request
            log.info("trust not offered: %s", exc)
            return
        if answer is None or answer.title != TRUST_ACTION or self.root is None:
            return
        try:
            trust.trust(self.root, digest)  # the content the user was told about, not a later one
        except trust.TrustError as exc:
            self.notify_user(T.MessageType.Error, f"routerls: {exc}")
            return
        if self.reload():
            self.note(f"routerls: trusted {trust.config_file(self.root)} (sha256 {digest[:12]}…)")

    # --- helpers ---------------------------------------------------------------------------
    async def ask(self, coro, what: str):
        """Await a request to the client, bounded: a client that never answers can't hang us."""
        try:
            return await asyncio.wait_for(coro, self.client_timeout_s)
        except TimeoutError:
            raise ClientTimeout(f"client did not answer {what}") from None
