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

This module builds the one server object and registers the handlers; they live by job in
`lifecycle` (initialize, settings, document sync), `code_actions` + `titles`, `run` (the
`routerls.run` flow) + `deliver` + `progress` + `outcomes_watch`, `commands`, `hover`, over the
state in `session`, with `protocol` (the wire), `status` (payloads) and `logs`.
"""

from __future__ import annotations

import logging

from lsprotocol import types as T

from routerls.paths import data_dir
from routerls.server import code_actions, commands, hover, lifecycle, progress
from routerls.server.logs import setup_logging
from routerls.server.session import DASHBOARD, REPORT, RUN, SET_STRATEGY, SPEND, RouterServer

log = logging.getLogger("routerls")

server = RouterServer()

server.feature(T.INITIALIZE)(lifecycle.initialize)
server.feature(T.INITIALIZED)(lifecycle.initialized)
server.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)(lifecycle.did_change_configuration)
server.feature(T.TEXT_DOCUMENT_DID_SAVE)(lifecycle.did_save)
server.feature(T.TEXT_DOCUMENT_DID_CHANGE)(lifecycle.did_change)
server.feature(T.TEXT_DOCUMENT_DID_CLOSE)(lifecycle.did_close)
server.feature(T.TEXT_DOCUMENT_CODE_ACTION, code_actions.OPTIONS)(code_actions.code_action)
server.feature(T.CODE_ACTION_RESOLVE)(code_actions.resolve_code_action)
server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)(progress.progress_cancel)
server.feature(T.TEXT_DOCUMENT_HOVER)(hover.hover)
server.feature(SPEND)(commands.spend)
server.command(RUN)(commands.run_command)
server.command(SET_STRATEGY)(commands.set_strategy)
server.command(REPORT)(commands.report)
server.command(DASHBOARD)(commands.dashboard)


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
