"""Accepting connections: the handshake over a stream you have, or a whole server."""

from __future__ import annotations

import logging
import math
import socket
import ssl as _ssl
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Deque, List, Optional, Sequence, Set, Union

import anyio
from anyio.abc import Listener, SocketAttribute, TaskGroup, TaskStatus
from anyio.streams.tls import TLSListener
from wsproto.events import AcceptConnection, RejectConnection, Request

from . import handshake
from ._wakeup import AsyncioWakeup
from .connection import Connection, ConnectionType
from .exceptions import ConnectionClosed, HandshakeError, HandshakeRejected
from .http import Headers, header_list
from .options import ConnectionOptions, Settings, Unpack, settings_from
from .transports import TRANSPORT_ERRORS, Transport, as_transport, asyncio_native
from .websocket import Websocket

__all__ = [
    "Reject",
    "open_websocket_server",
    "create_websocket_server",
    "serve",
    "serve_listener",
    "WebSocketServer",
]

logger = logging.getLogger("asyncwebsockets.server")

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
    **options: Unpack[ConnectionOptions],
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

    The other options are the :class:`~asyncwebsockets.options.ConnectionOptions`;
    ``compression="deflate"`` accepts a client's permessage-deflate offer.
    The connection is serviced in a task of its own until it closes (on
    asyncio, a plain TCP stream needs none: its servicing runs in the
    event loop's callbacks).
    """
    settings = settings_from(options, "create_websocket_server")
    ws = await _accept(as_transport(sock), filter, subprotocols, extra_headers, settings)
    ws._start()
    return ws


async def _accept(
    transport: Transport,
    filter: Optional[Filter],  # noqa: A002
    subprotocols: Optional[Sequence[str]],
    extra_headers: Optional[Headers],
    settings: Settings,
) -> Websocket:
    """The server handshake; the Websocket it makes is not serviced yet."""
    conn = Connection(
        ConnectionType.SERVER,
        max_message_size=settings.max_message_size,
        reassemble=settings.reassemble,
        compression=settings.compression,
    )
    transport.set_write_limits(*settings.write_marks)
    request = await handshake.receive_request(transport, conn, settings.open_timeout)
    try:
        decision: FilterResult = True if filter is None else await filter(request)
    except BaseException:
        await handshake.reject(transport, conn, 500, None, b"")
        raise
    headers = header_list(extra_headers)
    if decision is True or isinstance(decision, str):
        chosen = decision if isinstance(decision, str) else _pick_subprotocol(request, subprotocols)
        events = await handshake.accept(transport, conn, chosen, headers)
    elif isinstance(decision, AcceptConnection):
        events = await handshake.accept(transport, conn, decision.subprotocol, headers + header_list(decision.extra_headers))
    else:
        if isinstance(decision, Reject):
            status, reject_headers, body = decision.status_code, header_list(decision.headers), decision.body
        elif isinstance(decision, RejectConnection):
            status, reject_headers, body = decision.status_code, header_list(decision.headers), b""
        else:
            status, reject_headers, body = 403, [], b""
        await handshake.reject(transport, conn, status, reject_headers, body)
        raise HandshakeRejected(status, [], body if isinstance(body, bytes) else body.encode())
    return Websocket(transport, conn, settings, logger, events)


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

    It knows its listening sockets (hence its ports, useful after asking
    for port 0) and its open connections, and stops the server gracefully
    with :meth:`close` or :meth:`aclose`, from any task.
    """

    def __init__(self, close_timeout: Optional[float], listener: Optional[Listener[Any]] = None) -> None:
        #: The anyio listener, when the server runs on one.
        self.listener = listener
        self._sockets: List[socket.socket] = []
        self._connections: Set[Websocket] = set()
        self._handlers = 0
        self._close_timeout = close_timeout
        # What close() asked for: code, reason, seconds for the handlers.
        self._closing: Optional[tuple[int, str, Optional[float]]] = None
        self._stop = anyio.Event()
        self._stopped = anyio.Event()
        self._idle: Optional[anyio.Event] = None
        self._stop_listening: Callable[[], Awaitable[None]] = _nothing

    # -- what it is --------------------------------------------------------------

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
        """The TCP port the server listens on (every listening socket shares it)."""
        return self.ports[0]

    @property
    def ports(self) -> List[int]:
        return [int(sock.getsockname()[1]) for sock in self.sockets]

    @property
    def connections(self) -> frozenset[Websocket]:
        """The connections open now (handshake done, handler running)."""
        return frozenset(self._connections)

    @property
    def closing(self) -> bool:
        return self._closing is not None

    # -- stopping ------------------------------------------------------------------

    def close(self, code: int = 1001, reason: str = "server shutting down", timeout: Optional[float] = None) -> None:
        """Begin a graceful shutdown; returns at once (await :meth:`wait_closed` for the end).

        The server stops listening, closes every open connection with
        ``code`` and ``reason``, gives the handlers ``timeout`` seconds
        (default: the ``close_timeout`` option) to return, then cancels
        those still running, and :func:`serve` returns.  Calling it again
        changes nothing.
        """
        if self._closing is None:
            self._closing = (code, reason, self._close_timeout if timeout is None else timeout)
            self._stop.set()

    async def wait_closed(self) -> None:
        """Wait until the server has stopped and every connection is closed."""
        await self._stopped.wait()

    async def aclose(self, code: int = 1001, reason: str = "server shutting down", timeout: Optional[float] = None) -> None:
        """:meth:`close`, then :meth:`wait_closed`."""
        self.close(code, reason, timeout)
        await self.wait_closed()

    async def _run(self, accept: Callable[[TaskGroup], Coroutine[Any, Any, None]], task_status: TaskStatus["WebSocketServer"]) -> None:
        """Serve until closed or cancelled, then shut down as :meth:`close` says.

        The connections live in a task group under a shield, so that
        cancelling :func:`serve` shuts down gracefully (bounded in time)
        instead of cutting every connection off; a watcher outside the
        shield turns that cancellation into :meth:`close`.
        """
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._watch)
                with anyio.CancelScope(shield=True):
                    async with anyio.create_task_group() as connections:
                        connections.start_soon(accept, connections)
                        task_status.started(self)
                        await self._stop.wait()
                        await self._shut_down(connections)
                outer.cancel_scope.cancel()
        finally:
            self._stopped.set()

    async def _watch(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self.close()

    async def _shut_down(self, connections: TaskGroup) -> None:
        assert self._closing is not None
        code, reason, timeout = self._closing
        await self._stop_listening()
        for ws in list(self._connections):
            connections.start_soon(ws.close, code, reason)
        with anyio.move_on_after(timeout):
            while self._handlers:
                self._idle = anyio.Event()
                await self._idle.wait()
        connections.cancel_scope.cancel()

    # -- one connection --------------------------------------------------------------

    async def _serve_connection(self, handler: Handler, stream: Any, options: "_Options") -> None:
        """Handshake, handler, and the close that suits its end; never raises but cancellation."""
        transport = as_transport(stream)
        peer = _peer(transport)  # while the socket can still tell
        try:
            ws = await _accept(transport, options.filter, options.subprotocols, options.extra_headers, options.settings)
        except HandshakeError as exc:
            logger.info("opening handshake from %s failed: %s", peer, exc)
            return
        except TRANSPORT_ERRORS as exc:
            logger.info("connection from %s lost during the opening handshake: %s", peer, exc)
            return
        except Exception:
            logger.exception("error in the filter of a connection from %s", peer)
            return
        ws._start()
        self._connections.add(ws)
        self._handlers += 1
        logger.debug("connection from %s open", peer)
        try:
            await handler(ws)
        except ConnectionClosed:
            pass
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await ws.close(1001, "server shutting down")
            raise
        except Exception:
            logger.exception("error in the connection handler for %s", peer)
            with anyio.CancelScope(shield=True):
                await ws.close(1011, "internal error")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await ws.close(1011, "internal error")
            raise
        finally:
            self._connections.discard(ws)
            self._handlers -= 1
            if self._idle is not None and not self._handlers:
                self._idle.set()
        with anyio.CancelScope(shield=True):
            await ws.close()
        logger.debug("connection from %s closed: %s", peer, ws.close_code)


@dataclass(frozen=True)
class _Options:
    """What every connection of one server is accepted with."""

    filter: Optional[Filter]
    subprotocols: Optional[Sequence[str]]
    extra_headers: Optional[Headers]
    settings: Settings


def _options(caller: str, filter: Optional[Filter], subprotocols: Optional[Sequence[str]], extra_headers: Optional[Headers], options: Any) -> _Options:  # noqa: A002
    """Refuse bad connection options when the server starts, not at its first client."""
    header_list(extra_headers)
    return _Options(filter, subprotocols, extra_headers, settings_from(options, caller))


async def _nothing() -> None:
    pass


def _peer(transport: Transport) -> Any:
    return transport.extra(SocketAttribute.remote_address, "an unknown peer")


async def serve_listener(
    handler: Handler,
    listener: Listener[Any],
    filter: Optional[Filter] = None,  # noqa: A002
    *,
    subprotocols: Optional[Sequence[str]] = None,
    extra_headers: Optional[Headers] = None,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ConnectionOptions],
) -> None:
    """Serve WebSocket connections accepted by ``listener`` until closed or cancelled.

    See :func:`serve`: the same, on an anyio listener you made.
    """
    settings = _options("serve_listener", filter, subprotocols, extra_headers, options)
    server = WebSocketServer(settings.settings.close_timeout, listener)
    await _serve_on_listener(server, handler, listener, settings, task_status)


async def _serve_on_listener(
    server: WebSocketServer,
    handler: Handler,
    listener: Listener[Any],
    options: _Options,
    task_status: TaskStatus[WebSocketServer],
) -> None:
    accepting = anyio.CancelScope()
    accepted_all = anyio.Event()

    async def run(stream: Any) -> None:
        await server._serve_connection(handler, stream, options)

    async def accept(connections: TaskGroup) -> None:
        try:
            with accepting:
                await listener.serve(run, connections)
        finally:
            accepted_all.set()

    async def stop_listening() -> None:
        # The listener may only close once nobody waits in its accept().
        accepting.cancel()
        await accepted_all.wait()
        await listener.aclose()

    server._stop_listening = stop_listening
    async with listener:
        await server._run(accept, task_status)


async def serve(
    handler: Handler,
    host: Optional[str] = None,
    port: int = 0,
    filter: Optional[Filter] = None,  # noqa: A002
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    backlog: int = 65536,
    subprotocols: Optional[Sequence[str]] = None,
    extra_headers: Optional[Headers] = None,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ConnectionOptions],
) -> None:
    """Listen on ``host``:``port`` (TLS with ``ssl``) and serve until closed or cancelled.

    Use it with ``await task_group.start(serve, handler, host, port)`` to
    get the :class:`WebSocketServer` (its port, its connections, and
    :meth:`~WebSocketServer.close` to stop it) once it listens.  With no
    ``host``, it listens on every interface, IPv4 and IPv6, on one port.

    Each connection runs ``handler(ws)`` in its own task once the handshake
    succeeds (``filter``, ``subprotocols``, ``extra_headers`` and the
    :class:`~asyncwebsockets.options.ConnectionOptions` are those of
    :func:`create_websocket_server`).  Failed handshakes are answered,
    logged and dropped.  When the handler returns, the connection is closed
    with 1000; if it raises, the error is logged on the
    ``asyncwebsockets.server`` logger and the connection closed with 1011,
    and the server goes on serving everyone else.

    The server stops when :meth:`WebSocketServer.close` is called (then
    ``serve`` returns) or when it is cancelled (then it re-raises the
    cancellation): either way it stops listening, closes every connection
    with 1001, waits up to ``close_timeout`` for the handlers to return,
    and cancels those that have not.
    """
    settings = _options("serve", filter, subprotocols, extra_headers, options)
    timeout = settings.settings.open_timeout
    tls_timeout = TLS_HANDSHAKE_TIMEOUT if timeout is None else timeout
    listener: Listener[Any] = await anyio.create_tcp_listener(local_host=host, local_port=port, backlog=backlog)
    if asyncio_native.enabled():
        # Sockets made by anyio (one port for IPv4 and IPv6), served by asyncio.
        sockets = [inner.extra(SocketAttribute.raw_socket).dup() for inner in getattr(listener, "listeners", [listener])]
        await listener.aclose()
        server = WebSocketServer(settings.settings.close_timeout)
        await _serve_asyncio(server, handler, sockets, ssl, backlog, tls_timeout, settings, task_status)
        return
    if ssl is not None:
        listener = _QuietTLSListener(listener, ssl, standard_compatible=False, handshake_timeout=tls_timeout)
    server = WebSocketServer(settings.settings.close_timeout, listener)
    await _serve_on_listener(server, handler, listener, settings, task_status)


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
        logger.debug("TLS handshake failed: %s", exc)


async def _serve_asyncio(
    server: WebSocketServer,
    handler: Handler,
    sockets: List[socket.socket],
    ssl: Optional[_ssl.SSLContext],
    backlog: int,
    tls_timeout: float,
    options: _Options,
    task_status: TaskStatus[WebSocketServer],
) -> None:
    """:func:`serve` on asyncio's own server and protocol callbacks (see asyncio_native).

    asyncio hands each accepted connection to a callback, where no task
    runs (so no task can be started from it under a plain
    ``asyncio.run()``): the callback queues the connection and wakes one
    task, which starts the connection's task.
    """
    accepted: Deque[asyncio_native.AsyncioTransport] = deque()
    wakeup = AsyncioWakeup()

    def on_connect(transport: asyncio_native.AsyncioTransport) -> None:
        accepted.append(transport)
        wakeup.set()

    listening = [
        await asyncio_native.start_server(on_connect, sock, ssl=ssl, backlog=backlog, ssl_handshake_timeout=tls_timeout)
        for sock in sockets
    ]
    server._sockets = sockets

    async def accept(connections: TaskGroup) -> None:
        while True:
            while accepted:
                connections.start_soon(server._serve_connection, handler, accepted.popleft(), options)
            await wakeup.wait()

    def close_listeners() -> None:
        for one in listening:
            one.close()
        while accepted:
            accepted.popleft().abort()

    async def stop_listening() -> None:
        close_listeners()

    server._stop_listening = stop_listening
    try:
        await server._run(accept, task_status)
    finally:
        close_listeners()
