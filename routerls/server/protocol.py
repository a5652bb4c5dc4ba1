"""pygls' protocol, changed where routerls needs it on the wire.

- utf-16 is preferred whenever the client offers it (edits and columns are counted in it best);
- `$/cancelRequest` of an executeCommand also cancels the model call it started;
- a result already serialised to JSON (`AsJSON`, the codeAction answer) is written out as is.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import attrs
from lsprotocol import types as T
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCResponseMessage


class AsJSON(str):
    """A result already serialised to JSON text, written out as is."""


class RouterProtocol(LanguageServerProtocol):
    """pygls' protocol with two changes: utf-16 is preferred whenever the client offers it, and
    `$/cancelRequest` of an executeCommand also cancels the model call it started."""

    _server: Any  # session.RouterServer, which imports this module

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
