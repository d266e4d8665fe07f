"""Accepting connections: the handshake over a stream you have, or a whole server."""

from __future__ import annotations

import inspect
import socket
import ssl as _ssl
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Sequence, Union

import anyio
from anyio.abc import Listener, SocketAttribute, TaskStatus
from anyio.streams.tls import TLSListener
from wsproto.events import AcceptConnection, RejectConnection, Request

from . import asyncio_transport
from .connection import Connection, ConnectionType, Headers
from .permessage_deflate import Compression, check_compression
from .exceptions import ConnectionClosed, HandshakeError, HandshakeRejected
from .transport import TRANSPORT_ERRORS, as_transport
from .websocket import Websocket

__all__ = [
    "Reject",
    "open_websocket_server",
    "create_websocket_server",
    "serve",
    "serve_listener",
    "WebSocketServer",
]


#: Seconds a client gets for the TLS handshake when ``open_timeout`` is None
#: (asyncio's own default): a server never waits for ever on a silent socket.
TLS_HANDSHAKE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reject:
    """What a ``filter`` returns to refuse a request with a full HTTP response.

    ``status_code`` is a 4xx or 5xx error, or a 3xx redirect (with a
    ``Location`` header).
    """

    status_code: int = 403
    headers: Headers = field(default_factory=list)
    body: Union[bytes, str] = b""

    def __post_init__(self) -> None:
        if not 300 <= self.status_code <= 599:
            raise ValueError(f"a rejection needs a 3xx, 4xx or 5xx status, not {self.status_code}")


FilterResult = Union[bool, str, None, AcceptConnection, RejectConnection, Reject]
Filter = Callable[[Request], Awaitable[FilterResult]]


async def create_websocket_server(
    sock: Any,
    filter: Optional[Filter] = None,  # noqa: A002 - the 0.x name
    *,
    subprotocols: Optional[Sequence[str]] = None,
    extra_headers: Optional[Headers] = None,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = 10.0,
    ping_interval: Optional[float] = 20.0,
    ping_timeout: Optional[float] = 20.0,
    max_message_size: Optional[int] = 1 << 20,
    reassemble: bool = True,
    compression: Compression = None,
) -> Websocket:
    """Run the server handshake over ``sock``, an accepted stream; you close the result.

    ``filter``, if given, is awaited with the client's
    :class:`wsproto.events.Request` and decides: ``True`` accepts, a string
    accepts with that subprotocol, an :class:`~wsproto.events.AcceptConnection`
    accepts with its subprotocol and extra headers; ``False``/``None``
    refuses with 403, a :class:`Reject` or
    :class:`~wsproto.events.RejectConnection` with its status (and body).
    Without a filter every request is accepted.  When accepting without a
    chosen subprotocol, the first one the client offers that is in
    ``subprotocols`` is picked; if ``subprotocols`` is None, the client's
    first offer (what 0.x did).

    A malformed request is answered with HTTP 400 (405 for a method other
    than GET, 426 for plain HTTP or a wrong ``Sec-WebSocket-Version``) and
    raises :class:`HandshakeError`; a refused one raises
    :class:`HandshakeRejected`.  Both are ``ConnectionError``.

    ``compression="deflate"`` (or a
    :class:`~asyncwebsockets.PerMessageDeflate`) accepts a
    client's permessage-deflate offer; the default, None, declines it.
    """
    connection = Connection(
        ConnectionType.SERVER,
        max_message_size=max_message_size,
        reassemble=reassemble,
        compression=check_compression(compression),
    )
    ws = Websocket(
        as_transport(sock),
        connection,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    request = await ws._server_receive_request(open_timeout)
    try:
        decision: FilterResult = True if filter is None else await filter(request)
    except BaseException:
        await ws._server_reject(500, None, b"")
        raise
    headers: List[Any] = list(extra_headers or ())
    if decision is True or isinstance(decision, str):
        chosen = decision if isinstance(decision, str) else _pick_subprotocol(request, subprotocols)
        await ws._server_accept(chosen, headers)
    elif isinstance(decision, AcceptConnection):
        await ws._server_accept(decision.subprotocol, headers + list(decision.extra_headers))
    else:
        if isinstance(decision, Reject):
            status, reject_headers, body = decision.status_code, list(decision.headers), decision.body
        elif isinstance(decision, RejectConnection):
            status, reject_headers, body = decision.status_code, list(decision.headers), b""
        else:
            status, reject_headers, body = 403, [], b""
        await ws._server_reject(status, reject_headers, body)
        raise HandshakeRejected(status, [], body if isinstance(body, bytes) else body.encode())
    return ws


def _pick_subprotocol(request: Request, supported: Optional[Sequence[str]]) -> Optional[str]:
    offered = request.subprotocols
    if supported is None:
        return offered[0] if offered else None
    for name in offered:
        if name in supported:
            return name
    return None


@asynccontextmanager
async def open_websocket_server(sock: Any, filter: Optional[Filter] = None, **kwargs: Any) -> AsyncIterator[Websocket]:  # noqa: A002
    """:func:`create_websocket_server` for an ``async with`` block, closing with 1000 after it."""
    ws = await create_websocket_server(sock, filter, **kwargs)
    try:
        yield ws
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()


Handler = Callable[[Websocket], Awaitable[Any]]


class WebSocketServer:
    """A running server, as handed to ``task_status.started()`` by :func:`serve`.

    It knows its listening sockets, hence its ports (useful after asking
    for port 0).
    """

    def __init__(self, listener: Optional[Listener[Any]] = None, sockets: Sequence[socket.socket] = ()) -> None:
        #: The anyio listener, when the server runs on one.
        self.listener = listener
        self._sockets = list(sockets)

    @property
    def listeners(self) -> List[Listener[Any]]:
        if self.listener is None:
            return []
        inner = getattr(self.listener, "listener", self.listener)  # under a TLSListener
        return list(getattr(inner, "listeners", [inner]))

    @property
    def sockets(self) -> List[socket.socket]:
        """The listening sockets."""
        if self._sockets:
            return list(self._sockets)
        return [listener.extra(SocketAttribute.raw_socket) for listener in self.listeners]

    @property
    def port(self) -> int:
        """The TCP port of the first listening socket."""
        return self.ports[0]

    @property
    def ports(self) -> List[int]:
        return [int(sock.getsockname()[1]) for sock in self.sockets]


async def serve_listener(
    handler: Handler,
    listener: Listener[Any],
    *,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve WebSocket connections accepted by ``listener`` until cancelled.

    Each connection runs ``handler(ws)`` in its own task once the handshake
    succeeds (``options`` are those of :func:`create_websocket_server`).
    Failed handshakes are answered and dropped without disturbing anyone.
    When the handler returns, the connection is closed with 1000; if it
    raises, with 1011, and the exception propagates (a
    :class:`ConnectionClosed` from a peer that went away does not).  When the
    server is cancelled, open connections are closed with 1001, each given
    ``close_timeout`` to finish.
    """

    _check_options(options)

    async def run(stream: Any) -> None:
        await _run_connection(handler, stream, options)

    async with listener:
        task_status.started(WebSocketServer(listener))
        await listener.serve(run)


def _check_options(options: Dict[str, Any]) -> None:
    """Refuse bad connection options when the server starts, not at its first client."""
    try:
        inspect.signature(create_websocket_server).bind(None, **options)
    except TypeError as exc:
        raise TypeError(f"serve(): {exc}") from None
    check_compression(options.get("compression"))


def _tls_handshake_timeout(options: Dict[str, Any]) -> float:
    timeout: Optional[float] = options.get("open_timeout", 10.0)
    return TLS_HANDSHAKE_TIMEOUT if timeout is None else timeout


async def _run_connection(handler: Handler, stream: Any, options: Dict[str, Any]) -> None:
    """One server connection: handshake, handler, and the close that suits its end."""
    try:
        ws = await create_websocket_server(stream, **options)
    except (HandshakeError, *TRANSPORT_ERRORS):
        return
    try:
        await handler(ws)
    except ConnectionClosed:
        pass
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await ws.close(1001, "server shutting down")
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await ws.close(1011, "internal error")
        raise
    with anyio.CancelScope(shield=True):
        await ws.close()


async def serve(
    handler: Handler,
    host: Optional[str] = None,
    port: int = 0,
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    backlog: int = 65536,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Listen on ``host``:``port`` (TLS with ``ssl``) and serve until cancelled.

    Use it with ``await task_group.start(serve, handler, host, port)`` to
    get the :class:`WebSocketServer` (and its port) once it listens.  The
    other options are those of :func:`create_websocket_server`; see
    :func:`serve_listener` for how connections are run and shut down.
    """
    _check_options(options)
    if asyncio_transport.enabled():
        await _serve_asyncio(handler, host, port, ssl, backlog, task_status, options)
        return
    listener: Listener[Any] = await anyio.create_tcp_listener(local_host=host, local_port=port, backlog=backlog)
    if ssl is not None:
        listener = _QuietTLSListener(
            listener,
            ssl,
            standard_compatible=False,
            handshake_timeout=_tls_handshake_timeout(options),
        )
    await serve_listener(handler, listener, task_status=task_status, **options)


class _QuietTLSListener(TLSListener):
    """A TLS listener that drops a client's failed TLS handshake silently.

    anyio's logs each one as an error with a traceback; a client that
    distrusts our certificate or hangs up is no server error (and asyncio's
    own server, used by the asyncio transport, does not log them either).
    """

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: Any) -> None:
        await anyio.aclose_forcefully(stream)
        if not isinstance(exc, Exception) or isinstance(exc, anyio.get_cancelled_exc_class()):
            raise exc


async def _serve_asyncio(
    handler: Handler,
    host: Optional[str],
    port: int,
    ssl: Optional[_ssl.SSLContext],
    backlog: int,
    task_status: TaskStatus[WebSocketServer],
    options: Dict[str, Any],
) -> None:
    """:func:`serve` on asyncio's own server and protocol callbacks (see asyncio_transport)."""
    async with anyio.create_task_group() as tg:

        def on_connect(transport: asyncio_transport.AsyncioTransport) -> None:
            tg.start_soon(_run_connection, handler, transport, options)

        server = await asyncio_transport.start_server(
            on_connect,
            host,
            port,
            ssl=ssl,
            backlog=backlog,
            ssl_handshake_timeout=_tls_handshake_timeout(options),
        )
        try:
            task_status.started(WebSocketServer(sockets=server.sockets))
            await anyio.sleep_forever()
        finally:
            # Stop accepting; the connections' tasks are cancelled with us and
            # close with 1001 on their way out.
            server.close()
