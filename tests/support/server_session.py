"""One real `routerls serve` process, a pytest-lsp client that acts like an editor, and the
scripted model server as a child process: what the `test_server_*` modules drive.

The client keeps its own copy of each open document, applies `workspace/applyEdit` the way
editors do (refusing an edit whose version is stale, then sending `didChange`), and records
every `$/routerls/status` notification. `apply_mode` makes it misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any, Union

from lsprotocol import types as T
from modelserver import ModelServerProcess, Reply
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

__all__ = ["Reply", "Session", "start_session"]

TEST_CONFIG = """\
tiers:
  local:    {{models: [{{model: openai/local-coder, api_base: "{url}", price: {{input_per_mtok: 0.0, output_per_mtok: 0.0}}}}]}}
  cheap:    {{models: [{{model: openai/gpt-4o-mini, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY}}]}}
  mid:      {{models: [{{model: openai/gpt-4o, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY}}]}}
  frontier: {{models: [{{model: openai/gpt-4-turbo, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY}}]}}
gateway: {{timeout_s: 20, retries: 0, backoff_s: 0}}
"""
SECRET = "sk-test-0123456789abcdefSECRET"


@functools.cache
def _converter() -> Any:
    """One converter for the whole run: building one registers every lsprotocol hook (~20 ms),
    and doing that per code action made each codeAction round trip the tests time ~60 ms of
    the client's own work."""
    from lsprotocol.converters import get_converter

    return get_converter()


def _code_action_or_command(value: Any, _: Any) -> T.CodeAction | T.Command:
    """lsprotocol 2025.0.0 decodes a CodeAction that carries a `command` as a Command."""
    conv = _converter()
    if isinstance(value.get("command"), str):
        return conv.structure(value, T.Command)
    return conv.structure(value, T.CodeAction)


class Session:
    def __init__(self, client: LanguageClient, models: ModelServerProcess, root: Path, data: Path):
        self.client, self.models, self.root, self.data = client, models, root, data
        self.docs: dict[str, tuple[str, int]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.apply_mode = "apply"  # apply | never (the client never answers applyEdit)
        self.applied: list[T.ApplyWorkspaceEditParams] = []
        self.created: dict[str, str] = {}
        self._status_event = asyncio.Event()
        self.init_result: T.InitializeResult | None = None
        self.init_seconds = 0.0

    # --- documents ----------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        uri = self.uri(name)
        self.docs[uri] = (text, 1)
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(
            T.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)))
        return uri

    def change(self, uri: str, text: str) -> int:
        version = self.docs[uri][1] + 1
        self.docs[uri] = (text, version)
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)]))
        return version

    def text(self, uri: str) -> str:
        return self.docs[uri][0]

    # --- requests -----------------------------------------------------------------------------
    async def code_actions(self, uri: str, rng: T.Range, diagnostics: list[T.Diagnostic] | None = None,
                           only: list[str] | None = None) -> list[T.CodeAction]:
        got = await self.client.text_document_code_action_async(T.CodeActionParams(
            text_document=T.TextDocumentIdentifier(uri=uri), range=rng,
            context=T.CodeActionContext(diagnostics=diagnostics or [], only=only)))
        return list(got or [])

    async def run(self, arguments: dict[str, Any]) -> Any:
        return await self.client.workspace_execute_command_async(
            T.ExecuteCommandParams(command="routerls.run", arguments=[arguments]))

    async def until_warm(self, timeout: float = 60.0) -> None:
        """Wait until the server has loaded the model gateway (litellm) in its background
        thread: timings taken before then measure that import, not the server."""
        deadline = time.monotonic() + timeout
        while not any("model gateway" in m.message for m in self.client.log_messages):
            assert time.monotonic() < deadline, "the model gateway never warmed up"
            await asyncio.sleep(0.1)

    async def until_streaming(self, model: str = "gpt-4o") -> None:
        """Wait until the model server has the request and is streaming."""
        deadline = time.monotonic() + 15
        while not any(r.model == model for r in self.models.requests):
            assert time.monotonic() < deadline, "the model was never called"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

    async def wait_status(self, state: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next status in `state` that arrives after the ones already consumed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, s in enumerate(self.statuses):
                if s["state"] == state:
                    del self.statuses[: i + 1]
                    return s
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {state} status; got {self.statuses}")
            self._status_event.clear()
            try:
                await asyncio.wait_for(self._status_event.wait(), left)
            except TimeoutError:
                pass

    def ledger_rows(self) -> list[dict[str, Any]]:
        import sqlite3

        db = sqlite3.connect(self.data / "ledger.sqlite3")
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM calls ORDER BY rowid")]
        finally:
            db.close()

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_session(), 10)
        finally:
            self.models.stop()

    # --- the editor's side of applyEdit -------------------------------------------------------
    def _apply(self, params: T.ApplyWorkspaceEditParams) -> T.ApplyWorkspaceEditResult:
        self.applied.append(params)
        changes = params.edit.document_changes or []
        for change in changes:
            if isinstance(change, T.CreateFile):
                if change.uri in self.created or Path(change.uri.removeprefix("file://")).exists():
                    return T.ApplyWorkspaceEditResult(applied=False, failure_reason="file exists")
                self.created[change.uri] = ""
            elif isinstance(change, T.TextDocumentEdit):
                uri = change.text_document.uri
                if uri in self.created:
                    self.created[uri] = _apply_text(self.created[uri], change.edits)
                    continue
                text, version = self.docs[uri]
                if change.text_document.version is not None and change.text_document.version != version:
                    return T.ApplyWorkspaceEditResult(applied=False, failure_reason="version mismatch")
                self.change(uri, _apply_text(text, change.edits))
        return T.ApplyWorkspaceEditResult(applied=True)


def _plain(value: Any) -> Any:
    """pygls hands custom notifications over as namedtuples; tests want plain dicts."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _offset(text: str, pos: T.Position) -> int:
    lines = text.split("\n")
    if pos.line >= len(lines):
        return len(text)
    return sum(len(line) + 1 for line in lines[: pos.line]) + min(pos.character, len(lines[pos.line]))


def _apply_text(text: str, edits: list[T.TextEdit]) -> str:
    """Apply edits (ASCII test documents: UTF-16 columns are string indexes) back to front."""
    spans = sorted(((_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in edits),
                   reverse=True)
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text


async def start_session(tmp: Path, *, capabilities: str | T.ClientCapabilities = "neovim@v0.10.0",
                        initialization_options: Any = None, workspace_yaml: str | None = None,
                        extra_env: dict[str, str] | None = None) -> Session:
    models = ModelServerProcess()
    root, data = tmp / "ws", tmp / "data"
    root.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    config = tmp / "routerls-test.yaml"
    config.write_text(TEST_CONFIG.format(url=models.url), encoding="utf-8")
    if workspace_yaml is not None:
        (root / ".routerls.yaml").write_text(workspace_yaml, encoding="utf-8")
    env = {**os.environ, "ROUTERLS_DATA_DIR": str(data), "ROUTERLS_CONFIG": str(config),
           "XDG_CONFIG_HOME": str(tmp / "xdg"), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "ROUTERLS_TEST_KEY": SECRET, **(extra_env or {})}

    client = make_test_lsp_client()
    client.protocol._converter.register_structure_hook(Union[T.Command, T.CodeAction], _code_action_or_command)  # noqa: UP007
    session = Session(client, models, root, data)

    @client.feature(T.WORKSPACE_APPLY_EDIT)
    async def apply_edit(params: T.ApplyWorkspaceEditParams):
        if session.apply_mode == "never":
            await asyncio.Event().wait()  # an editor that never answers
        return session._apply(params)

    @client.feature("$/routerls/status")
    def on_status(params: Any) -> None:
        session.statuses.append(_plain(params))
        session._status_event.set()

    await client.start_io(sys.executable, "-m", "routerls", "serve", env=env)
    caps = client_capabilities(capabilities) if isinstance(capabilities, str) else capabilities
    started = time.perf_counter()
    session.init_result = await client.initialize_session(T.InitializeParams(
        capabilities=caps, root_uri=root.as_uri(), process_id=os.getpid(),
        workspace_folders=[T.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        initialization_options=initialization_options))
    session.init_seconds = time.perf_counter() - started
    return session
