"""The command-line tool: ``python -m asyncwebsockets`` (or ``asyncwebsockets``).

``connect URL`` is an interactive client for poking at a server from a
shell: each line typed is sent as a text message and each message received
is printed as it arrives.  ``serve`` is an echo server to try clients
against.  Both run on asyncio or trio (``--backend``).

Failures a person at a shell can cause or fix (a wrong URL, a server that
is down or refuses, a certificate that does not verify) are reported in one
line on stderr with a non-zero exit status, not with a traceback: the
traceback would only bury the one fact that matters.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import http
import math
import os
import signal
import ssl as _ssl
import sys
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TextIO

import anyio
from anyio.abc import TaskGroup, TaskStatus
from wsproto.events import BytesMessage, TextMessage

from ._speedups import SPEEDUPS
from .client import create_websocket
from .exceptions import ConnectionClosed, HandshakeError, HandshakeRejected, HandshakeTimeout, InvalidURI
from .server import WebSocketServer, serve
from .uri import parse_uri
from .version import __version__
from .websocket import Websocket

__all__ = ["main", "build_parser"]

#: Exit statuses: 1 for a connection that failed or ended badly, 2 for a
#: command line that cannot be run (argparse uses 2 for usage errors too).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: Close codes that mean the connection ended as intended.
NORMAL_CLOSE_CODES = (1000, 1001, 1005)

#: Bytes of a binary message shown in hex; the rest is only counted, so
#: one large message does not flood the terminal.
BINARY_SHOWN = 256

HELP_COMMANDS = """\
Lines typed are sent as text messages; messages received are shown after "< ".
Commands:
  /ping [payload]        send a ping and show the round trip
  /binary HEX            send a binary message (e.g. /binary 68656c6c6f)
  /close [code [reason]] close the connection (default code 1000)
  /quit                  close with 1000 and exit (as Ctrl-D does)
  /help                  show this help
  //text                 send "/text" (a leading / is doubled to send it)"""


# -- output ----------------------------------------------------------------


class Console:
    """Where the tool writes: messages to stdout, everything else to stderr.

    Keeping received messages alone on stdout lets a pipeline collect them
    (``asyncwebsockets connect URL < requests > answers``) while the status
    lines still reach the person watching.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err

    def message(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def status(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def error(self, text: str) -> None:
        self.status(f"asyncwebsockets: {text}")


#: Control characters other than tab and newline, shown escaped: a server
#: must not be able to move the cursor or recolour the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}


def printable(text: str) -> str:
    return text.translate(_CONTROLS)


def show_message(event: Any) -> str:
    """How one received message is printed: text as is, binary in hex with its size."""
    if isinstance(event, TextMessage):
        return f"< {printable(event.data)}"
    data = bytes(event.data)
    shown = data[:BINARY_SHOWN].hex()
    rest = f" ... ({len(data) - BINARY_SHOWN} more bytes)" if len(data) > BINARY_SHOWN else ""
    return f"< [binary, {len(data)} bytes] {shown}{rest}"


def describe_close(code: int | None, reason: str | None) -> str:
    text = f"connection closed: {code}"
    if reason:
        text += f" {printable(reason)}"
    return text


def describe_failure(exc: BaseException, host: str = "", port: int = 0) -> str:
    """One line saying why a connection to ``host``:``port`` could not be opened."""
    if isinstance(exc, InvalidURI):
        return f"invalid URI: {exc}"
    if isinstance(exc, HandshakeRejected):
        try:
            phrase = " " + http.HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = ""
        text = f"server refused the handshake: HTTP {exc.status_code}{phrase}"
        body = printable(exc.body.decode("utf-8", "replace").strip())
        if body and "\n" not in body and len(body) <= 200:
            text += f": {body}"
        return text
    if isinstance(exc, HandshakeTimeout):
        return str(exc)
    cause = exc.__cause__
    if isinstance(cause, _ssl.SSLError):
        # "certificate verify failed: self-signed certificate" is what a
        # person can act on; OpenSSL's full text only adds source lines.
        verify = getattr(cause, "verify_message", None)
        detail = f"certificate verify failed: {verify}" if verify else str(cause)
        where = f" with {host}:{port}" if host else ""
        return f"TLS handshake{where} failed: {detail}"
    return str(exc)


# -- reading stdin -----------------------------------------------------------


def _poster() -> Callable[..., Any]:
    """A function that runs a callback in this event loop, callable from any thread."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    return loop.call_soon_threadsafe


class StdinLines:
    """Lines read from a file descriptor by a daemon thread, for ``async for``.

    A read from a terminal blocks until the person presses Enter, so it
    cannot run in the event loop.  anyio's worker threads
    (``anyio.to_thread``, ``anyio.wrap_file``) are not daemon threads on
    asyncio: one still blocked in a read when the connection ends would
    keep the process alive until another line is typed.  A daemon thread
    of our own dies with the process; it reads the raw descriptor, not
    ``sys.stdin``, so that it never holds the lock of a buffered file the
    interpreter wants at exit.

    The thread stays at most ``READ_AHEAD`` lines ahead of the consumer,
    so that piping a large file in does not buffer all of it in memory.
    The iteration ends at end of file.
    """

    READ_AHEAD = 64

    def __init__(self, fd: int, encoding: str) -> None:
        self._fd = fd
        self._encoding = encoding
        self._send, self._receive = anyio.create_memory_object_stream[str](math.inf)
        self._slots = threading.Semaphore(self.READ_AHEAD)
        self._post = _poster()
        self.thread = threading.Thread(target=self._read, name="stdin reader", daemon=True)
        self.thread.start()

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
        self._slots.release()
        return line

    def close(self) -> None:
        """Stop taking lines; whatever the thread still reads is dropped."""
        self._receive.close()

    def _deliver(self, line: str | None) -> None:
        """In the event loop: hand over one line (None: end of file), unless nobody wants it."""
        try:
            if line is None:
                self._send.close()
            else:
                self._send.send_nowait(line)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder(self._encoding)(errors="replace")
        pending = ""
        try:
            while True:
                try:
                    chunk = os.read(self._fd, 65536)
                except OSError:
                    chunk = b""
                pending += decoder.decode(chunk, final=not chunk)
                *lines, pending = pending.split("\n")
                if not chunk and pending:
                    lines.append(pending)
                for line in lines:
                    self._slots.acquire()
                    self._post(self._deliver, line.rstrip("\r"))
                if not chunk:
                    self._post(self._deliver, None)
                    return
        except Exception:  # noqa: BLE001 - whatever a closed event loop raises
            # The event loop is gone (the program is exiting): nobody is
            # waiting for the lines any more.
            return


# -- connect -----------------------------------------------------------------


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {value!r}")
    return name.strip(), rest.strip()


def _client_ssl(secure: bool, insecure: bool) -> _ssl.SSLContext | None:
    """The TLS context to pass: None for the default one (or for ws://), or one that checks nothing."""
    if not (secure and insecure):
        return None
    context = _ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = _ssl.CERT_NONE
    return context


class Session:
    """One interactive client connection: what the person typed and what the server sent."""

    def __init__(self, ws: Websocket, console: Console) -> None:
        self.ws = ws
        self.console = console
        #: Set when the person asked to close, so a close they chose
        #: (``/close 4000``) counts as success.
        self.closed_by_us = False

    async def run(self, lines: StdinLines) -> int:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.receive, tg)
                tg.start_soon(self.commands, lines, tg)
        finally:
            lines.close()
        ws = self.ws
        if self.closed_by_us or ws.close_code in NORMAL_CLOSE_CODES:
            return EXIT_OK
        return EXIT_FAILED

    async def receive(self, tg: TaskGroup) -> None:
        """Print messages as they arrive; when the connection ends, say how and stop."""
        async for event in self.ws:
            self.console.message(show_message(event))
        self.console.status(describe_close(self.ws.close_code, self.ws.close_reason))
        tg.cancel_scope.cancel()

    async def commands(self, lines: StdinLines, tg: TaskGroup) -> None:
        """Send what is typed; at end of input (Ctrl-D) close with 1000."""
        async for line in lines:
            if not await self.command(line, tg):
                return
        await self.close(1000, "")

    async def command(self, line: str, tg: TaskGroup) -> bool:
        """Act on one line; False once the connection is being closed."""
        if line.startswith("/") and not line.startswith("//"):
            name, _, arg = line[1:].partition(" ")
            arg = arg.strip()
            if name == "ping":
                # In its own task: a server that never answers must not
                # stop the person from typing.
                tg.start_soon(self.ping, arg.encode("utf-8") if arg else None)
            elif name == "binary":
                try:
                    data = bytes.fromhex(arg)
                except ValueError:
                    self.console.error("/binary takes hexadecimal digits, e.g. /binary 68656c6c6f")
                else:
                    await self.send(data)
            elif name == "close":
                code_text, _, reason = arg.partition(" ")
                try:
                    code = int(code_text) if code_text else 1000
                except ValueError:
                    self.console.error(f"/close takes a numeric close code, not {code_text!r}")
                    return True
                return not await self.close(code, reason.strip())
            elif name == "quit":
                await self.close(1000, "")
                return False
            elif name == "help":
                self.console.status(HELP_COMMANDS)
            else:
                self.console.error(f"unknown command /{name}; /help lists them")
            return True
        if line.startswith("//"):
            line = line[1:]
        await self.send(line)
        return True

    async def send(self, data: str | bytes) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            pass  # the receiving task reports how it ended

    async def ping(self, payload: bytes | None) -> None:
        try:
            seconds = await self.ws.ping(payload)
        except ConnectionClosed:
            return
        except ValueError as exc:
            self.console.error(str(exc))
            return
        self.console.status(f"pong: round trip {seconds * 1000:.2f} ms")

    async def close(self, code: int, reason: str) -> bool:
        """Close with ``code``; False (and a message) when the code or reason cannot be sent."""
        try:
            if self.ws.close_code is None:
                self.closed_by_us = True
            await self.ws.close(code, reason)
        except ValueError as exc:
            self.closed_by_us = False
            self.console.error(str(exc))
            return False
        return True


async def run_connect(args: argparse.Namespace, console: Console, stdin_fd: int, encoding: str) -> int:
    """Open the connection, then relay between the terminal and the server until it ends."""
    try:
        uri = parse_uri(args.url)
    except InvalidURI as exc:
        console.error(describe_failure(exc))
        return EXIT_USAGE
    options: dict[str, Any] = {"open_timeout": args.open_timeout}
    if args.compression:
        options["compression"] = args.compression
    try:
        ws = await create_websocket(
            args.url,
            ssl=_client_ssl(uri.secure, args.insecure),
            headers=args.header or None,
            subprotocols=args.subprotocol or None,
            origin=args.origin,
            **options,
        )
    except HandshakeError as exc:
        console.error(describe_failure(exc, uri.host, uri.port))
        return EXIT_FAILED
    try:
        details = []
        if ws.subprotocol:
            details.append(f"subprotocol {ws.subprotocol}")
        if ws.compression:
            details.append("compression deflate")
        extra = f" ({', '.join(details)})" if details else ""
        console.status(f"connected to {args.url}{extra}; /help lists the commands, Ctrl-D closes")
        lines = StdinLines(stdin_fd, encoding)
        return await Session(ws, console).run(lines)
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()


# -- serve -------------------------------------------------------------------


def _peer_name(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


async def run_serve(args: argparse.Namespace, console: Console) -> int:
    """Echo every message back to its sender until interrupted, logging connections."""
    context: _ssl.SSLContext | None = None
    if args.tls_cert:
        context = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, _ssl.SSLError) as exc:
            console.error(f"cannot load the TLS certificate {args.tls_cert}: {exc}")
            return EXIT_USAGE

    async def echo(ws: Websocket) -> None:
        peer = _peer_name(ws.remote_address)
        target = ws.request.target if ws.request is not None else "/"
        console.status(f"{peer} connected to {target}")
        try:
            async for event in ws:
                if isinstance(event, (TextMessage, BytesMessage)):
                    await ws.send(event.data)
        except ConnectionClosed:
            pass
        finally:
            console.status(f"{peer} {describe_close(ws.close_code, ws.close_reason)}")

    options: dict[str, Any] = {}
    if args.compression:
        options["compression"] = args.compression
    listening = False
    try:
        async with anyio.create_task_group() as tg:
            try:
                server: WebSocketServer = await tg.start(
                    partial(
                        serve, echo, args.host, args.port, ssl=context, subprotocols=args.subprotocol or None, **options
                    )
                )
            except OSError as exc:
                console.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
                return EXIT_FAILED
            listening = True
            scheme = "wss" if context is not None else "ws"
            host = f"[{args.host}]" if ":" in args.host else args.host
            console.status(f"serving on {scheme}://{host}:{server.port}/ (Ctrl-C stops)")
    finally:
        # Reached once every connection is closed (with 1001) or given up on.
        if listening:
            console.status("server stopped")
    return EXIT_OK


# -- the command line ----------------------------------------------------------


def build_parser(prog: str = "asyncwebsockets") -> argparse.ArgumentParser:
    version = f"%(prog)s {__version__} ({'compiled' if SPEEDUPS else 'pure-Python'} codec)"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Try WebSocket servers and clients from the shell.",
        epilog=f"'{prog} COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def backend(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--backend", choices=["asyncio", "trio"], default="asyncio", help="event loop to run on (default: asyncio)"
        )
        sub.add_argument(
            "--compression", choices=["deflate"], default=None, help="offer (or accept) permessage-deflate"
        )

    connect = commands.add_parser(
        "connect",
        help="an interactive client: send lines, print messages",
        description="Connect to URL. Lines typed are sent as text messages; messages received are\n"
        "printed as they arrive, binary ones in hex. Ctrl-D (end of input) closes the\n"
        "connection with 1000 and exits, as does Ctrl-C, which also interrupts connecting.\n"
        "Exits with 0 after a normal closure (1000, 1001, 1005 or one asked for with\n"
        "/close), 1 when the connection failed or ended otherwise, 2 for a bad command line.",
        epilog=HELP_COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connect.add_argument("url", metavar="URL", help="a ws:// or wss:// URL")
    connect.add_argument(
        "-H",
        "--header",
        action="append",
        type=_header,
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    connect.add_argument(
        "--subprotocol", action="append", metavar="NAME", help="offer a subprotocol (repeatable, preferred first)"
    )
    connect.add_argument("--origin", help="send this Origin header")
    connect.add_argument(
        "--insecure", action="store_true", help="for wss://, do not check the server's certificate (testing only)"
    )
    connect.add_argument(
        "--open-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time allowed for connecting and the handshake (default: 10)",
    )
    backend(connect)

    serve_parser = commands.add_parser(
        "serve",
        help="an echo server for trying clients",
        description="Echo every message back to its sender, printing connections as they open and "
        "close. Ctrl-C stops the server, closing connections with 1001.",
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve_parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default: 8765; 0 picks a free one)"
    )
    serve_parser.add_argument(
        "--subprotocol", action="append", metavar="NAME", help="accept this subprotocol when offered (repeatable)"
    )
    serve_parser.add_argument("--tls-cert", metavar="FILE", help="serve wss:// with this certificate chain (PEM)")
    serve_parser.add_argument(
        "--tls-key", metavar="FILE", help="the certificate's private key (PEM), if not in --tls-cert"
    )
    backend(serve_parser)
    return parser


async def _interruptible(run: Callable[[], Any]) -> int:
    """Run ``run()``; SIGINT (Ctrl-C) or SIGTERM cancels it and exits with 0.

    Receiving the signals in the event loop, rather than letting
    KeyboardInterrupt fly wherever the program happens to be, gives every
    connection the chance to close properly; after the first signal the
    default handling is back, so a second Ctrl-C interrupts at once.
    """
    status = EXIT_OK

    async def body(tg: TaskGroup) -> None:
        nonlocal status
        status = await run()
        tg.cancel_scope.cancel()

    async def watch(tg: TaskGroup, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                tg.cancel_scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        if sys.platform != "win32":
            # Started (listening) before anything else runs, so that no
            # Ctrl-C falls through to the default handling.
            await tg.start(watch, tg)
        tg.start_soon(body, tg)
    return status


def main(argv: Sequence[str] | None = None, prog: str = "asyncwebsockets") -> int:
    """Run the tool with ``argv`` (default: the process's arguments); returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    console = Console(sys.stdout, sys.stderr)
    if args.backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            console.error("the trio backend needs trio: pip install 'asyncwebsockets[trio]'")
            return EXIT_USAGE
    if args.command == "connect":
        encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
        run: Callable[[], Any] = partial(run_connect, args, console, sys.stdin.fileno(), encoding)
    else:
        run = partial(run_serve, args, console)
    try:
        status: int = anyio.run(_interruptible, run, backend=args.backend)
    except KeyboardInterrupt:
        # A second Ctrl-C while closing, or the first one on Windows.
        return EXIT_OK
    return status
