"""How LSP bytes reach the protocol: bounded framing on stdio and TCP, and the TCP token.

pygls' own reader trusts the client: `Content-Length: 99999999999` allocates that much (the
server dies of MemoryError), a wrong length leaves it reading every later message as the tail
of a broken one, and a message cattrs cannot structure is logged with no reply. This reader:

- refuses a frame over `max_bytes` (64 MiB by default): a JSON-RPC error, a log line, and a
  clean exit (exit code 1) — resynchronising after a lying length is guesswork;
- answers a body that is not JSON with a parse error, and finds the next `Content-Length:`
  inside it, so a wrong length costs one message, not the session; a body that stops short
  of a too-long length is taken as it is after `IDLE_S` without more bytes;
- answers a request whose params do not fit the method's types with an Invalid Params error.

`--tcp` listens on loopback only, and a connection must first send the line
`routerls-token <token>\\r\\n` (the token from `ROUTERLS_TCP_TOKEN`, else the file `tcp-token`
in the data dir, created with mode 0600); any other first line closes the connection before a
single LSP byte is read. `routerls connect HOST:PORT` is a stdio bridge that sends it, for
editors that start a program.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("routerls")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8192
CHUNK = 65536
IDLE_S = 2.0  # a partial body with no more bytes for this long is judged as it stands
TOKEN_ENV = "ROUTERLS_TCP_TOKEN"
TOKEN_FILE = "tcp-token"
TOKEN_PREFIX = b"routerls-token "
TOKEN_WAIT_S = 5.0

_LENGTH = re.compile(rb"(?i)content-length:[ \t]*(\d+)[ \t]*")
_HEADER_START = re.compile(rb"(?i)content-(?:length|type):")

Read = Callable[[], Awaitable[bytes]]  # the next chunk, b"" at end of input; safe to cancel


class Oversized(Exception):
    """A frame longer than the limit: the session ends."""


def _reply_error(protocol: Any, msg_id: Any, code: int, message: str) -> None:
    """A JSON-RPC error written straight to the client (an `id` of null when unknown)."""
    if protocol.writer is None:
        return
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}).encode()
    written = protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    if inspect.isawaitable(written):
        asyncio.ensure_future(written)


def _dispatch(protocol: Any, body: bytes) -> bool:
    """Hand one body to the protocol; False when it is not JSON (the caller may resync)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("malformed LSP message (%d bytes): not JSON (%s)", len(body), exc)
        _reply_error(protocol, None, -32700, f"Parse error: the message is not JSON ({exc})")
        return False
    if not isinstance(data, dict):
        _reply_error(protocol, None, -32600, "Invalid Request: a message must be a JSON object")
        return True
    from pygls.exceptions import JsonRpcException

    request_id = data.get("id") if "method" in data else None
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:
        log.warning("message %r refused: %s", data.get("method"), exc.__cause__ or exc)
        if request_id is not None:
            detail = f"{exc.message}: {data.get('method')} params do not fit its types ({exc.__cause__ or exc})"
            _reply_error(protocol, request_id, exc.code, detail[:2000])
        return True
    except Exception as exc:  # noqa: BLE001 - one bad message must not end the session
        log.warning("message %r refused: %s", data.get("method"), exc)
        if request_id is not None:
            _reply_error(protocol, request_id, -32603, f"Internal Error: {exc}"[:2000])
        return True
    protocol.handle_message(message)
    return True


async def read_frames(read: Read, protocol: Any, *, max_bytes: int = MAX_MESSAGE_BYTES,
                      idle_s: float = IDLE_S) -> str:
    """Feed framed messages to `protocol` until the input ends; returns why it stopped.

    Raises `Oversized` for a frame over `max_bytes`. SystemExit (the `exit` notification)
    passes through."""
    buf = bytearray()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                found = _HEADER_START.search(buf, 1)
                log.warning("skipped %d bytes that are not an LSP header",
                            found.start() if found else len(buf) - 32)
                del buf[: found.start() if found else len(buf) - 32]
            chunk = await read()
            if not chunk:
                return "end of input"
            buf += chunk
            continue
        headers = bytes(buf[:end])
        lengths = list(_LENGTH.finditer(headers))
        del buf[: end + 4]
        if not lengths:
            log.warning("LSP header without Content-Length: %r", headers[:200])
            _reply_error(protocol, None, -32600, "Invalid Request: a header block without Content-Length")
            continue
        if lengths[-1].start() > 0 and not _HEADER_START.match(headers):
            log.warning("skipped %d bytes before an LSP header", lengths[-1].start())
        length = int(lengths[-1].group(1))
        if length > max_bytes:
            message = (f"a message of {length} bytes is over the {max_bytes}-byte limit "
                       "(routerls serve --max-message-mb); closing the connection")
            _reply_error(protocol, None, -32600, f"Invalid Request: {message}")
            raise Oversized(message)
        short = False
        while len(buf) < length:
            try:
                chunk = await (asyncio.wait_for(read(), idle_s) if buf else read())
            except TimeoutError:
                short = True  # the length promised more than came: judge what did
                break
            if not chunk:
                return "end of input inside a message"
            buf += chunk
        body = bytes(buf[:length])
        del buf[:length]
        if short:
            log.warning("Content-Length %d, but only %d bytes came", length, len(body))
        if not _dispatch(protocol, body):
            found = _HEADER_START.search(body, 1)  # the length swallowed the next message's start
            if found is not None:
                buf[:0] = body[found.start():]


def stdin_reader(stream: Any) -> Read:
    """Chunks of `stream` read on a daemon thread (a blocked read never holds up exit),
    at most a few chunks ahead of the protocol."""
    queue: asyncio.Queue[bytes] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    started = threading.Event()

    def pump() -> None:
        started.wait()
        try:  # the raw descriptor: a buffered reader's lock held at exit aborts the interpreter
            fd = stream.fileno()
            read1 = lambda n: os.read(fd, n)
        except (AttributeError, OSError, ValueError):
            read1 = getattr(stream, "read1", stream.read)
        while True:
            try:
                data = read1(CHUNK)
            except (OSError, ValueError):
                data = b""
            assert loop is not None and queue is not None
            try:
                asyncio.run_coroutine_threadsafe(queue.put(data), loop).result()
            except RuntimeError:  # the loop is gone: we are exiting
                return
            if not data:
                return

    async def read() -> bytes:
        nonlocal queue, loop
        if queue is None:
            queue, loop = asyncio.Queue(maxsize=8), asyncio.get_running_loop()
            threading.Thread(target=pump, name="routerls-stdin", daemon=True).start()
            started.set()
        return await queue.get()

    return read


# --- TCP -----------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token(data_dir: Path) -> tuple[str, str]:
    """(token, where it came from): `ROUTERLS_TCP_TOKEN`, else `<data dir>/tcp-token`, made on
    first use with mode 0600 (a looser mode found later is tightened)."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return given, TOKEN_ENV
    path = data_dir / TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("%s was readable by others; its mode is now 0600", path)
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value, str(path)
        os.unlink(path)
        return token(data_dir)
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value, str(path)


def serve_tcp(server: Any, host: str, port: int, secret: str, *, max_bytes: int = MAX_MESSAGE_BYTES,
              announce: Callable[[str], None] | None = None) -> int:
    """Serve one client on `host:port` (loopback); returns the exit code."""
    expected = TOKEN_PREFIX + secret.encode()

    async def main() -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        busy = False

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            peer = writer.get_extra_info("peername")
            try:
                line = await asyncio.wait_for(reader.readline(), TOKEN_WAIT_S)
            except (TimeoutError, ValueError, ConnectionError, asyncio.LimitOverrunError):
                line = b""
            if busy or not hmac.compare_digest(line.rstrip(b"\r\n"), expected):
                log.warning("closed a TCP connection from %s: %s", peer,
                            "a client is already connected" if busy else "no valid routerls-token line")
                writer.close()
                return
            busy = True
            server.protocol.set_writer(writer)
            log.info("client connected from %s", peer)
            code = 0
            try:
                why = await read_frames(lambda: reader.read(CHUNK), server.protocol, max_bytes=max_bytes)
                log.info("client gone (%s)", why)
            except Oversized as exc:
                log.error("routerls: %s", exc)
                code = 1
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
            except ConnectionError as exc:
                log.info("client gone (%s)", exc)
            if not done.done():
                done.set_result(code)

        listener = await asyncio.start_server(on_connect, host or "127.0.0.1", port)
        bound = listener.sockets[0].getsockname()
        if announce is not None:
            announce(f"{bound[0]}:{bound[1]}")
        async with listener:
            return await done

    try:
        return asyncio.run(main())
    finally:
        server.shutdown()


def serve_stdio(server: Any, stdin: Any, stdout: Any, *, max_bytes: int = MAX_MESSAGE_BYTES) -> int:
    """Serve LSP on stdin/stdout; returns the exit code."""
    from pygls.io_ import StdoutWriter

    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout))
    try:
        why = asyncio.run(read_frames(stdin_reader(stdin), server.protocol, max_bytes=max_bytes))
        log.info("stdin closed (%s)", why)
        return 0
    except Oversized as exc:
        log.error("routerls: %s", exc)
        print(f"routerls: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:
        log.error("the client closed its end; shutting down")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        server.shutdown()


def connect(address: str, secret: str) -> int:
    """`routerls connect HOST:PORT`: stdio ⇄ the TCP server, after the token line."""
    host, _, port = address.rpartition(":")
    try:
        sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=10)
    except (OSError, ValueError) as exc:
        print(f"routerls: cannot connect to {address}: {exc}", file=sys.stderr)
        return 1
    sock.settimeout(None)
    sock.sendall(TOKEN_PREFIX + secret.encode() + b"\r\n")

    def upstream() -> None:
        read1 = getattr(sys.stdin.buffer, "read1", sys.stdin.buffer.read)
        while data := read1(CHUNK):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    out = sys.stdout.buffer
    while data := sock.recv(CHUNK):
        out.write(data)
        out.flush()
    return 0
