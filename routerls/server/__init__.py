"""The language server: pygls wiring only. Every decision lives in the modules it calls.

- `initialize` answers at once: nothing here imports litellm; the gateway is warmed on a
  background thread after `initialized`.
- `textDocument/codeAction` is on every cursor move, so it does no I/O and no context
  gathering: titles come from `router.route` on the task alone, cached until the config or the
  spend changes.
- `routerls.run` runs `Engine.run` as a task, with cancellable work-done progress, then sends
  the edit as a versioned `workspace/applyEdit` (rebased when the document moved on elsewhere).

Server-only settings travel in `initializationOptions` beside the `routerls` config section:
`applyEditTimeoutS` (default 10) bounds every wait on the client (applyEdit, progress create,
showDocument). An editor that mixes user and workspace settings (VS Code) sends the workspace's
part apart as `workspaceSettings` — a workspace layer, see `trust.py` — and its own workspace
trust as `workspaceTrusted`; false means the server never offers to trust the workspace config.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import inspect
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCResponseMessage
from pygls.uris import from_fs_path, to_fs_path

from routerls import __version__
from routerls import actions as actions_mod
from routerls import tools as tools_mod
from routerls.config import STRATEGIES, Config, ConfigError, load_config
from routerls.files import FileRefused, read_text
from routerls.paths import data_dir
from routerls.router import RouteError, Spend, route
from routerls.server.status import (
    Scrubber,
    ScrubFilter,
    SpendCache,
    report_markdown,
    spend_payload,
    status_payload,
)
from routerls.text import Position, Range

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
CODE_ACTION_KINDS = [T.CodeActionKind.QuickFix, T.CodeActionKind.Refactor,
                     T.CodeActionKind.RefactorRewrite, T.CodeActionKind.Source]



@attrs.define
class Kept:
    """A result that could not be applied because the document moved on; `reapply` retries."""

    uri: str
    text: str
    version: int | None
    range: Range
    result: Any  # engine.RunResult


class AsJSON(str):
    """A result already serialised to JSON text, written out as is."""


class RouterProtocol(LanguageServerProtocol):
    """pygls' protocol with two changes: utf-16 is preferred whenever the client offers it, and
    `$/cancelRequest` of an executeCommand also cancels the model call it started."""

    _server: RouterServer

    @lsp_method(T.INITIALIZE)
    def lsp_initialize(self, params: T.InitializeParams):
        general = params.capabilities.general
        offered = general.position_encodings if general is not None else None
        if offered and T.PositionEncodingKind.Utf16 in offered and offered[0] != T.PositionEncodingKind.Utf16:
            ordered = [T.PositionEncodingKind.Utf16] + [e for e in offered if e != T.PositionEncodingKind.Utf16]
            caps = attrs.evolve(params.capabilities, general=attrs.evolve(general, position_encodings=ordered))
            params = attrs.evolve(params, capabilities=caps)
        result = yield from super().lsp_initialize(params)
        if result.capabilities.execute_command_provider is not None:
            result.capabilities.execute_command_provider.work_done_progress = True
        return result

    def _send_data(self, data: Any) -> None:
        # codeAction answers on every cursor move; its result is built as JSON text already,
        # and a cattrs + json pass over it would cost more than the whole handler
        if type(data) is not JsonRPCResponseMessage or type(data.result) is not AsJSON or self.writer is None:
            return super()._send_data(data)
        body = f'{{"id": {json.dumps(data.id)}, "jsonrpc": "2.0", "result": {data.result}}}'.encode()
        header = (f"Content-Length: {len(body)}\r\nContent-Type: {self.CONTENT_TYPE}; "
                  f"charset={self.CHARSET}\r\n\r\n").encode() if self._include_headers else b""
        written = self.writer.write(header + body)
        if inspect.isawaitable(written):
            asyncio.ensure_future(written)
        return None

    def _handle_cancel_notification(self, msg_id):
        self._server.cancel_run(msg_id)
        super()._handle_cancel_notification(msg_id)


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
        self._titles: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
        self._json: dict[tuple[str, str], str] = {}  # the same key → the start of its CodeAction JSON
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
                from routerls.config import DEFAULTS_PATH

                self.set_config(load_config(files=[DEFAULTS_PATH]))
            return False
        self.set_config(config)
        if self.started:
            self.offer_trust()
        return True

    def set_config(self, config: Config) -> None:
        self.config = config
        self.actions = actions_mod.all_actions(config)
        self._titles.clear()
        self._json.clear()
        self.scrub.watch(e.api_key_env for t in config.tiers.values() for e in t.models if e.api_key_env)
        if self.engine is not None:
            self.engine.config = config
            self.engine.learned.clear()
        if self.ledger is not None:
            self.ledger.store_prompts = config.ledger.store_prompts

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
        self._titles.clear()
        self._json.clear()

    # --- titles (the codeAction hot path) -----------------------------------------------------
    def title_of(self, action: actions_mod.Action, language: str = "") -> tuple[str, str | None, str | None]:
        """`AI: Format (tools · ruff)`, `AI: Fix (mid · claude-haiku-4-5)`. A fix-type tool is
        only chosen once it has been asked about the diagnostics, so fix titles name the model
        tier; the run may still be served by the tool."""
        key = (action.name, language)
        got = self._titles.get(key)
        if got is None:
            pick = tools_mod.pick(self.config, action.name, language)
            tool = pick.entry.name if pick.entry is not None and pick.entry.fixable is None else None
            try:
                learned = (self.engine.estimates(str(self.root)) if self.engine is not None and self.root
                           else None)
                d = route(self.config, action.task, spend=Spend(self.spend.today_usd, self.spend.month_usd),
                          tool=tool, learned=learned)
                tier, name = d.tier, d.model_name
                if d.tool is None:  # the model a run will use: keys, templates (no I/O)
                    from routerls.local import likely

                    found = likely(self.config, d.tier, action.name)
                    if found is not None:
                        tier, name = found[0], found[1].name
                got = (f"AI: {action.title} ({tier} · {name})", tier, name)
            except RouteError:
                got = (f"AI: {action.title}", None, None)
            self._titles[key] = got
        return got

    def action_json(self, action: actions_mod.Action, language: str = "") -> str:
        """The start of the action's CodeAction JSON, up to where `{uri, range, version}` go."""
        key = (action.name, language)
        got = self._json.get(key)
        if got is None:
            got = self._json[key] = self._action_json(action, language)
        return got

    def _action_json(self, action: actions_mod.Action, language: str) -> str:
        title = json.dumps(self.title_of(action, language)[0])
        head = f'{{"title": {title}, "kind": {json.dumps(action.kind)}, '
        call = f'{{"action": {json.dumps(action.name)}, '
        if self.edit_on_resolve:  # the client can't take applyEdit: the edit comes on resolve
            return head + '"data": ' + call
        return head + f'"command": {{"title": {title}, "command": "{RUN}", "arguments": [' + call

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
                self.workspace_settings = _section(where[WORKSPACE_SETTINGS])
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


class ClientTimeout(Exception):
    pass


server = RouterServer()


# --- life cycle ------------------------------------------------------------------------------

def _section(settings: Any) -> dict[str, Any]:
    """The `routerls` section of a settings object that may be `{"routerls": {...}}` or the section."""
    if not isinstance(settings, Mapping):
        return {}
    if isinstance(settings.get("routerls"), Mapping):
        settings = settings["routerls"]
    return {k: v for k, v in settings.items() if k not in SERVER_OPTIONS}


@server.feature(T.INITIALIZE)
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
    ls.reload(_section(options))


@server.feature(T.INITIALIZED)
def initialized(ls: RouterServer, params: T.InitializedParams) -> None:
    ls.open_ledger()
    ls.started = True
    ls.offer_trust()

    loop = asyncio.get_event_loop()

    def warm() -> None:
        try:
            from routerls import (
                gateway,
                local,  # noqa: F401 - titles use it; keep its import off codeAction
            )

            started = time.perf_counter()
            gateway.warm()
            # litellm brings ~150 MB of long-lived objects: keep the collector from walking them
            gc.freeze()
            message = f"routerls: model gateway ready in {time.perf_counter() - started:.1f} s"
        except Exception as exc:  # noqa: BLE001 - the first run will report it properly
            message = f"routerls: warming the model gateway failed: {exc}"
        ls.warmed.set()
        loop.call_soon_threadsafe(ls.note, message)  # the writer belongs to the loop's thread

    threading.Thread(target=warm, name="routerls-warm", daemon=True).start()
    ls.note(f"routerls {__version__} ready; position encoding {ls.encoding}; "
            f"strategy {ls.config.strategy}; data in {data_dir()}")


@server.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: RouterServer, params: T.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, Mapping) and "applyEditTimeoutS" in (settings.get("routerls") or settings):
        value = (settings.get("routerls") or settings)["applyEditTimeoutS"]
        if isinstance(value, (int, float)) and value > 0:
            ls.client_timeout_s = float(value)
    ls.take_client_trust(settings)
    if ls.reload(_section(settings) if settings is not None else ls.overrides):
        ls.note("routerls: configuration reloaded")


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RouterServer, params: T.DidSaveTextDocumentParams) -> None:
    if params.text_document.uri.endswith("/.routerls.yaml") and ls.reload():
        ls.note("routerls: .routerls.yaml reloaded")


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: RouterServer, params: T.DidChangeTextDocumentParams) -> None:
    """Only while an applied edit of this document awaits its outcome: read the new text."""
    uri = params.text_document.uri
    if ls.watching is None or not any(a.uri == uri for a in ls.watching.pending):
        return
    doc = ls.workspace.text_documents.get(uri)
    if doc is not None:
        _outcomes_record(ls, ls.watching.changed(uri, doc.source))


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RouterServer, params: T.DidCloseTextDocumentParams) -> None:
    ls.diagnostics.pop(params.text_document.uri, None)
    if ls.watching is not None:
        _outcomes_record(ls, ls.watching.closed(params.text_document.uri))
    if ls.engine is not None:
        ls.engine.forget(to_fs_path(params.text_document.uri) or params.text_document.uri)


# --- code actions ----------------------------------------------------------------------------

def _overlaps(a: T.Range, b: T.Range) -> bool:
    a_start, a_end = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b_start, b_end = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return not (a_end < b_start or b_end < a_start)


def _range_json(r: T.Range) -> dict[str, Any]:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=True,
                                    work_done_progress=True))
def code_action(ls: RouterServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    """The actions that apply here, as `CodeAction` JSON: each runs `routerls.run` with
    `{action, uri, range, version}`; for clients without applyEdit it carries that object as
    `data` instead, and the edit comes on resolve."""
    uri, rng, ctx = params.text_document.uri, params.range, params.context
    if ctx.diagnostics:
        ls.diagnostics[uri] = ctx.diagnostics
    has_diagnostics = any(_overlaps(d.range, rng) for d in ctx.diagnostics)
    doc = ls.workspace.text_documents.get(uri)
    args = json.dumps({"uri": uri, "range": _range_json(rng),
                       "version": doc.version if doc is not None else None})[1:]  # without "{"
    close = "}" if ls.edit_on_resolve else "]}}"  # the action object, or arguments + command too
    offered = actions_mod.applicable(ls.actions, has_diagnostics=has_diagnostics, only=ctx.only)
    language = (doc.language_id or "") if doc is not None else ""
    return AsJSON("[" + ", ".join(ls.action_json(a, language) + args + close for a in offered) + "]")


@server.feature(T.CODE_ACTION_RESOLVE)
async def resolve_code_action(ls: RouterServer, action: T.CodeAction) -> T.CodeAction:
    """For clients without `workspace.applyEdit`: run the model now and return the edit."""
    if not isinstance(action.data, Mapping) or action.command is not None:
        return action
    outcome = await _run(ls, dict(action.data), apply=False)
    if outcome.get("edit") is not None:
        action.edit = outcome.pop("edit")
    elif outcome.get("state") != "done" or outcome.get("markdown") is None:
        action.disabled = T.CodeActionDisabledType(reason=outcome.get("message") or "the model run failed")
    return action


# --- routerls.run ----------------------------------------------------------------------------

def _to_range(value: Any) -> Range:
    """An LSP range from JSON; TypeError unless every number is an integer."""
    def num(v: Any) -> int:
        if type(v) is not int:
            raise TypeError(f"expected an integer, got {type(v).__name__}")
        return v

    s, e = value["start"], value["end"]
    return Range(Position(num(s["line"]), num(s["character"])), Position(num(e["line"]), num(e["character"])))


def _lsp_range(r: Range) -> T.Range:
    return T.Range(T.Position(r.start.line, r.start.character), T.Position(r.end.line, r.end.character))


def _diagnostics_for(ls: RouterServer, uri: str, rng: Range, given: Any):
    from routerls.context import Diagnostic

    out = []
    if isinstance(given, list):
        raw = [ls.protocol._converter.structure(d, T.Diagnostic) for d in given]
    else:
        raw = [d for d in ls.diagnostics.get(uri, []) if _overlaps(d.range, _lsp_range(rng))]
    for d in raw:
        out.append(Diagnostic(Range.of(d.range.start.line, d.range.start.character,
                                       d.range.end.line, d.range.end.character),
                              d.message, int(d.severity) if d.severity is not None else None,
                              None if d.code is None else str(d.code), d.source))
    return tuple(out)


def _read_unopened(ls: RouterServer, uri: Any) -> str:
    """A document the client never opened, read from disk: only a `file:` URI of a regular file
    inside the workspace, within `limits.max_file_bytes` (the URI is untrusted input)."""
    path = to_fs_path(uri) if isinstance(uri, str) and uri.startswith("file:") else None
    if path is None:
        raise FileRefused(f"{uri!r}: not a file: URI the editor has open; open the document first")
    if ls.root is None:
        raise FileRefused(f"{path}: not open in the editor, and there is no workspace folder to read it "
                          "from; open the document first")
    return read_text(path, root=ls.root, max_bytes=ls.config.limits.max_file_bytes)


def _language_of(uri: str, doc: Any) -> str:
    if doc is not None and doc.language_id:
        return doc.language_id
    from routerls.text import language_of

    return language_of(Path(to_fs_path(uri) or uri))


@server.command(RUN)
async def run_command(ls: RouterServer, *arguments: Any) -> dict[str, Any]:
    """`routerls.run {action, uri, range, version, tier?, instruction?, reapply?}`."""
    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    msg_id = ls.protocol.msg_id
    if args.get("reapply"):
        return await _reapply(ls, str(args["reapply"]))
    return await _run(ls, dict(args), apply=True, msg_id=msg_id)


async def _run(ls: RouterServer, args: dict[str, Any], *, apply: bool, msg_id: Any = None) -> dict[str, Any]:
    from routerls.engine import EngineError, RunRequest, checked_request

    follow_up = bool(args.get("followUp"))
    name = args.get("action")
    if name is None and follow_up and "uri" in args:  # "more detail": the document's last action
        name = ls.get_engine().last_action(to_fs_path(args["uri"]) or args["uri"])
    action = actions_mod.find(ls.actions, str(name))
    if action is None or "uri" not in args or "range" not in args:
        message = (f"unknown action {name!r}; available: {', '.join(a.name for a in ls.actions)}"
                   if action is None else "routerls.run needs {action, uri, range, version}")
        ls.notify_user(T.MessageType.Error, f"routerls: {message}")
        return {"state": "error", "message": message}
    uri = args["uri"]
    try:
        rng = _to_range(args["range"])
    except (KeyError, TypeError, ValueError, AttributeError):
        message = "routerls.run: `range` must be {start: {line, character}, end: {line, character}} of integers"
        ls.notify_user(T.MessageType.Error, f"routerls: {message}")
        return {"state": "error", "message": message}
    doc = ls.workspace.text_documents.get(uri) if isinstance(uri, str) else None
    was_open = doc is not None
    if doc is not None:
        text, version = doc.source, doc.version
    else:
        try:
            text, version = _read_unopened(ls, uri), None
        except FileRefused as exc:
            ls.notify_user(T.MessageType.Error, f"routerls: {exc}")
            return {"state": "error", "message": str(exc)}
    req = RunRequest(action=action.name, path=to_fs_path(uri) or uri, text=text, range=rng,
                     language_id=_language_of(uri, doc),
                     diagnostics=_diagnostics_for(ls, uri, rng, args.get("diagnostics")),
                     tier=args.get("tier"), instruction=args.get("instruction"), encoding=ls.encoding,
                     follow_up=follow_up,
                     workspace_root=str(ls.root) if ls.root else None)
    try:  # a range past the end or reversed, as a racing editor may send it
        req = checked_request(req)
    except EngineError as exc:
        ls.notify_user(T.MessageType.Error, f"routerls: {exc}")
        return {"state": "error", "message": str(exc)}
    rng = req.range
    if apply:
        _outcomes_rerun(ls, uri, action.name, rng)
    _, tier, model = ls.title_of(action, req.language_id)
    token = f"routerls-{os.urandom(6).hex()}"
    progress = await _progress_begin(ls, token, f"AI: {action.title}", f"{tier or ''} · {model or ''}")
    ls.status("running", action, tier=tier, model=model, reason=f"{action.task} → {tier}")

    last = [0.0]

    def on_progress(model_name: str, tokens: int) -> None:
        now = time.monotonic()
        if progress and now - last[0] >= 0.1:
            last[0] = now
            ls.work_done_progress.report(token, T.WorkDoneProgressReport(
                message=f"{model_name}: {tokens} tokens", cancellable=True))

    engine = ls.get_engine()
    task = asyncio.ensure_future(engine.run(req, on_progress))
    if msg_id is not None:
        ls.runs[msg_id] = task
    ls.by_token[token] = task
    try:
        result = await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # we ourselves are being cancelled (shutdown)
        ls.refresh_spend()
        ls.status("cancelled", action, tier=tier, model=model, reason="cancelled by the user",
                  message="cancelled: nothing was changed")
        _progress_end(ls, progress, token, "cancelled")
        return {"state": "cancelled", "message": "cancelled: nothing was changed"}
    except EngineError as exc:
        ls.status("error", action, tier=tier, model=model, reason=str(exc), message=str(exc))
        _progress_end(ls, progress, token, str(exc))
        ls.notify_user(T.MessageType.Error, f"routerls: {exc}")
        return {"state": "error", "message": str(exc)}
    except Exception as exc:
        log.exception("run of %s failed", action.name)
        message = f"{type(exc).__name__}: {exc}"
        ls.status("error", action, tier=tier, model=model, reason=message, message=message)
        _progress_end(ls, progress, token, message)
        ls.notify_user(T.MessageType.Error, f"routerls: {action.name} failed: {message}")
        return {"state": "error", "message": message}
    finally:
        ls.runs.pop(msg_id, None)
        ls.by_token.pop(token, None)

    ls.refresh_spend()
    if apply:
        _outcomes_rejected(ls, uri, result)
    if engine.ledger_warning:  # the run went on; the user should know spend was not counted
        ls.notify_user(T.MessageType.Warning, f"routerls: {engine.ledger_warning}")
        engine.ledger_warning = None
    fields: dict[str, Any] = {
        "tier": result.tier or result.plan.decision.tier,
        "model": result.model.name if result.model else model, "reason": result.reason,
        "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd, "saved_usd": result.saved_usd, "latency_ms": result.latency_ms}
    out: dict[str, Any] = {"requestId": result.request_id, "tier": fields["tier"], "model": fields["model"],
                           "costUsd": result.cost_usd}
    if result.outcome != "ok":
        message = result.message or result.outcome
        ls.status("error", action, message=message, **fields)
        _progress_end(ls, progress, token, message)
        ls.notify_user(T.MessageType.Warning, f"routerls: {action.name}: {message}")
        return {**out, "state": "error", "message": message}
    _progress_end(ls, progress, token, f"{fields['model']} · {result.output_tokens} tokens")

    edit = result.edit
    if edit.markdown is not None:
        out["markdown"] = edit.markdown
        if apply:
            await _show_markdown(ls, action, result.request_id, edit.markdown)
        ls.status("done", action, **fields)
        return {**out, "state": "done"}
    if not apply:
        out["edit"] = _workspace_edit(ls, uri, version, edit.edits, edit.create)
        ls.status("done", action, **fields)
        return {**out, "state": "done"}
    kept = Kept(uri, text, version, rng, result)
    if was_open and edit.edits and uri not in ls.workspace.text_documents:
        # closed while the model worked: editing a file the user put away would surprise them
        _keep(ls, kept)
        message = (f"not applied: {Path(to_fs_path(uri) or uri).name} was closed while the model was "
                   f"working; reopen it and run routerls.run with {{\"reapply\": \"{result.request_id}\"}}")
        ls.status("error", action, message=message, **fields)
        return {**out, "state": "error", "message": message, "applied": False}
    state, message = await _apply(ls, kept)
    ls.status(state, action, message=message, **fields)
    return {**out, "state": state, **({"message": message} if message else {}),
            "applied": state == "done"}


async def _apply(ls: RouterServer, kept: Kept) -> tuple[str, str | None]:
    """Send the result as a versioned applyEdit, rebased when the document moved on elsewhere.
    Returns (status state, message)."""
    from routerls.edits import rebase_edits

    edit = kept.result.edit
    edits, version = list(edit.edits), kept.version
    doc = ls.workspace.text_documents.get(kept.uri)
    if edits and doc is not None and doc.version != kept.version:
        rebased = rebase_edits(kept.text, doc.source, kept.range, edits, ls.encoding)
        if rebased is None:
            _keep(ls, kept)
            message = (f"not applied: {Path(to_fs_path(kept.uri) or kept.uri).name} changed where the "
                       f"edit goes while the model was working; run routerls.run with "
                       f"{{\"reapply\": \"{kept.result.request_id}\"}} to apply it if it still fits")
            ls.notify_user(T.MessageType.Warning, f"routerls: {message}")
            return "error", message
        edits, version = list(rebased), doc.version
        log.info("rebased %d edit(s) from version %s to %s", len(edits), kept.version, version)
    workspace_edit = _workspace_edit(ls, kept.uri, version, edits, edit.create)
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
        _outcomes_watch(ls, kept, before, edits)
    return "done", None


# --- outcomes of applied edits (outcomes.py, learning.py) ------------------------------------

def _outcomes_workspace(ls: RouterServer, uri: str) -> str:
    from routerls.learning import workspace_key

    return workspace_key(ls.root if ls.root is not None else Path(to_fs_path(uri) or ".").parent)


def _outcomes_watch(ls: RouterServer, kept: Kept, before: str, edits) -> None:
    """Watch an edit the client applied until its outcome is known (`route.learn_window_s`)."""
    from routerls.edits import apply_edits
    from routerls.outcomes import Applied, Tracker

    result = kept.result
    if ls.ledger is None or result.tier is None:
        return
    if ls.watching is None:
        ls.watching = Tracker()
    window = ls.config.route.learn_window_s
    applied = Applied.of(result.request_id, kept.uri, result.plan.action.name, result.plan.action.task,
                         result.tier, before, apply_edits(before, edits, ls.encoding), time.monotonic() + window)
    _outcomes_record(ls, ls.watching.superseded(kept.uri, applied.first_line, applied.last_line))
    ls.watching.watch(applied)
    try:  # pending until settled: the router's probing counts it at once
        ls.ledger.record_outcome(applied.request_id, _outcomes_workspace(ls, applied.uri), applied.action,
                                 applied.task, applied.tier, "pending")
    except Exception as exc:  # noqa: BLE001 - a lost outcome must not stop the editor
        log.warning("outcome not recorded: %s", exc)
    if ls.engine is not None:
        ls.engine.learned.clear()
    asyncio.get_running_loop().call_later(window + 0.05, _outcomes_expire, ls)


def _outcomes_record(ls: RouterServer, done) -> None:
    for applied, outcome in done:
        try:
            if not ls.ledger.settle_outcome(applied.request_id, applied.tier, outcome):
                ls.ledger.record_outcome(applied.request_id, _outcomes_workspace(ls, applied.uri),
                                         applied.action, applied.task, applied.tier, outcome)
        except Exception as exc:  # noqa: BLE001 - a lost outcome must not stop the editor
            log.warning("outcome not recorded: %s", exc)
            continue
        log.info("%s on %s (%s): %s", applied.action, applied.tier, applied.request_id[:12], outcome)
    if done:
        if ls.engine is not None:
            ls.engine.learned.clear()
        ls._titles.clear()
        ls._json.clear()


def _outcomes_expire(ls: RouterServer) -> None:
    if ls.watching is not None:
        _outcomes_record(ls, ls.watching.expire(time.monotonic()))


def _outcomes_rerun(ls: RouterServer, uri: str, action: str, rng: Range) -> None:
    if ls.watching is not None:
        _outcomes_record(ls, ls.watching.rerun(uri, action, rng.start.line, rng.end.line))


def _outcomes_rejected(ls: RouterServer, uri: str, result) -> None:
    """An answer that failed its checks counts against its tier (the request escalated)."""
    if ls.ledger is None:
        return
    for attempt in result.attempts:
        if attempt.outcome == "bad_output":
            try:
                ls.ledger.record_outcome(result.request_id, _outcomes_workspace(ls, uri), result.plan.action.name,
                                         result.plan.action.task, attempt.tier, "rejected")
            except Exception as exc:  # noqa: BLE001
                log.warning("outcome not recorded: %s", exc)


def _keep(ls: RouterServer, kept: Kept) -> None:
    ls.kept[kept.result.request_id] = kept
    while len(ls.kept) > KEPT_RESULTS:
        ls.kept.popitem(last=False)


async def _reapply(ls: RouterServer, request_id: str) -> dict[str, Any]:
    kept = ls.kept.get(request_id)
    if kept is None:
        return {"state": "error", "message": f"no kept result {request_id!r} (kept: {', '.join(ls.kept) or 'none'})"}
    state, message = await _apply(ls, kept)
    ls.status(state, kept.result.plan.action, tier=kept.result.tier,
              model=kept.result.model.name if kept.result.model else None, reason=kept.result.reason,
              input_tokens=kept.result.input_tokens, output_tokens=kept.result.output_tokens,
              cost_usd=0.0, saved_usd=0.0, message=message)
    return {"requestId": request_id, "state": state, "applied": state == "done",
            **({"message": message} if message else {})}


def _workspace_edit(ls: RouterServer, uri: str, version: int | None, edits, create) -> T.WorkspaceEdit:
    text_edits = [T.TextEdit(range=_lsp_range(e.range), new_text=e.new_text) for e in edits]
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


async def _show_markdown(ls: RouterServer, action: actions_mod.Action, request_id: str, markdown: str) -> None:
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


async def _progress_begin(ls: RouterServer, token: str, title: str, message: str) -> bool:
    if not ls.capability("window.work_done_progress", False):
        return False
    try:
        await ls.ask(ls.work_done_progress.create_async(token), "workDoneProgress/create")
    except Exception as exc:  # noqa: BLE001 - no progress bar is no reason to fail the run
        log.warning("no progress bar: %s", exc)
        return False
    ls.work_done_progress.begin(token, T.WorkDoneProgressBegin(title=title, message=message, cancellable=True))
    return True


def _progress_end(ls: RouterServer, shown: bool, token: str, message: str) -> None:
    if shown:
        ls.work_done_progress.end(token, T.WorkDoneProgressEnd(message=message))
    ls.work_done_progress.tokens.pop(token, None)


@server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def progress_cancel(ls: RouterServer, params: T.WorkDoneProgressCancelParams) -> None:
    task = ls.by_token.get(str(params.token))
    if task is not None and not task.done():
        log.info("cancelling run with progress %s", params.token)
        task.cancel()


# --- other commands and requests -----------------------------------------------------------

@server.command(SET_STRATEGY)
def set_strategy(ls: RouterServer, *arguments: Any) -> dict[str, Any]:
    args = arguments[0] if arguments else {}
    strategy = args.get("strategy") if isinstance(args, Mapping) else args
    if strategy not in STRATEGIES:
        message = f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}"
        ls.notify_user(T.MessageType.Error, f"routerls: {message}")
        return {"ok": False, "message": message}
    ok = ls.reload({**ls.overrides, "strategy": strategy})
    if ok:
        ls.note(f"routerls: strategy is now {strategy}")
    return {"ok": ok, "strategy": ls.config.strategy}


async def _summary(ls: RouterServer, by: str = "day", since: Any = None):
    """The report layer's reading of the ledger, off the event loop (a large ledger takes a
    few hundred ms); None without a ledger."""
    from datetime import date

    from routerls import spend_report

    if ls.ledger is None:
        return None
    day = date.fromisoformat(since) if isinstance(since, str) and since else None
    return await asyncio.to_thread(spend_report.summarize, ls.ledger, by=by if by in ("day", "week") else "day",
                                   since=day, config=ls.config, session=ls.session_id)


@server.command(REPORT)
async def report(ls: RouterServer, *arguments: Any) -> str:
    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    by = args.get("by", "model")
    ls.refresh_spend()
    summary = await _summary(ls, by)
    markdown = report_markdown(summary.rows(by) if summary is not None else [], ls.spend, by)
    if summary is not None:
        from routerls.learning import kept_markdown

        kept = kept_markdown(summary.kept)
        markdown += f"\n{kept}" if kept else ""
    action = actions_mod.Action("report", "Spend report", "report", "", "markdown", "")
    await _show_markdown(ls, action, os.urandom(6).hex(), markdown)
    return markdown


@server.command(DASHBOARD)
async def dashboard(ls: RouterServer, *arguments: Any) -> str:
    """The spend dashboard as one HTML page (`{by: day|week, since?: YYYY-MM-DD}`): the VS Code
    webview shows it, Neovim and Emacs write it to a file for the browser."""
    from routerls.dashboard import render_html, render_message

    args = arguments[0] if arguments and isinstance(arguments[0], Mapping) else {}
    try:
        summary = await _summary(ls, str(args.get("by") or "day"), args.get("since"))
    except ValueError as exc:
        return render_message(f"routerls: {exc}")
    if summary is None:
        return render_message("routerls: spend is not recorded (the ledger could not be opened)")
    return render_html(summary)


@server.feature(SPEND)
def spend(ls: RouterServer, params: Any = None) -> dict[str, Any]:
    ls.refresh_spend()
    b = ls.config.budgets
    return spend_payload(ls.spend, b.daily_usd, b.monthly_usd)


# --- hover ---------------------------------------------------------------------------------

@server.feature(T.TEXT_DOCUMENT_HOVER)
async def hover(ls: RouterServer, params: T.HoverParams) -> T.Hover | None:
    """With `hover.explain` on: the `explain` task on the symbol under the cursor, cached by a
    hash of the symbol, its line and the language, so a repeated hover costs nothing."""
    if not ls.config.hover.explain:
        return None
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is None:
        return None
    word = doc.word_at_position(params.position)
    if not word.strip():
        return None
    lines = doc.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    key = hashlib.sha256("\0".join((doc.language_id or "", word, line)).encode()).hexdigest()
    markdown = ls.hover_cache.get(key)
    if markdown is None:
        start = line.find(word)
        column = len(line[:max(start, 0)].encode("utf-16-le")) // 2 if ls.encoding == "utf-16" else start
        rng = T.Range(T.Position(params.position.line, max(column, 0)),
                      T.Position(params.position.line, max(column, 0) + len(word)))
        outcome = await _run(ls, {"action": "explain", "uri": doc.uri, "range": _range_json(rng),
                                  "version": doc.version}, apply=False)
        markdown = outcome.get("markdown")
        if markdown is None:
            return None
        ls.hover_cache[key] = markdown
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=markdown))


# --- entry point ---------------------------------------------------------------------------

def setup_logging(scrub: Scrubber) -> None:
    """A log file under the data dir; pygls itself only above INFO (it logs every message body)."""
    logging.getLogger("pygls").setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    try:
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "routerls.log", encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()  # stderr: never stdout, which carries LSP
    handler.addFilter(ScrubFilter(scrub))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def serve(tcp: str | None = None, max_message_bytes: int | None = None) -> int:
    """Run the server on stdio, or on loopback `HOST:PORT` with `tcp` (a client must present
    the token first; see transport.py). Returns the exit code."""
    import sys

    from routerls import transport

    setup_logging(server.scrub)
    limit = max_message_bytes or transport.MAX_MESSAGE_BYTES
    if tcp:
        host, _, port = tcp.rpartition(":")
        host = host.strip("[]")
        if not port.isdigit():
            print(f"routerls: --tcp {tcp!r}: use HOST:PORT", file=sys.stderr)
            return 2
        if not transport.is_loopback(host):
            print(f"routerls: --tcp {tcp!r}: routerls listens on loopback only (127.0.0.1 or ::1); "
                  "reach it from elsewhere through an SSH tunnel", file=sys.stderr)
            return 2
        try:
            secret, where = transport.token(data_dir())
        except OSError as exc:
            print(f"routerls: cannot create the TCP token in {data_dir()}: {exc.strerror}; "
                  f"set {transport.TOKEN_ENV}", file=sys.stderr)
            return 2

        def announce(address: str) -> None:
            message = f"routerls: listening on {address}; clients send the token from {where} first"
            log.info("%s", message)
            print(message, file=sys.stderr, flush=True)

        return transport.serve_tcp(server, host or "127.0.0.1", int(port), secret, max_bytes=limit,
                                   announce=announce)
    # stdout carries LSP: anything else written there (litellm logs INFO records to
    # sys.stdout) breaks strict clients such as VS Code and Neovim, so all of it goes to stderr
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr
    return transport.serve_stdio(server, sys.stdin.buffer, protocol_out, max_bytes=limit)
