"""Accepting connections: the handshake over a stream you have, or a whole server."""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl as _ssl
import stat
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import Listener, SocketAttribute, SocketListener, TaskGroup, TaskStatus
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSListener

from ._wakeup import AsyncioWakeup
from .accept import Filter, FilterResult, Reject, ServerConnectionOptions, ServerOptions, accept_connection
from .exceptions import ConnectionClosed, HandshakeError, HandshakeRejected
from .options import Unpack
from .protocol import CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR
from .transports import TRANSPORT_ERRORS, Transport, as_transport, asyncio_open
from .transports.asyncio_native import AsyncioTransport
from .websocket import Websocket

__all__ = [
    "Reject",
    "Filter",
    "FilterResult",
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


async def create_websocket_server(
    sock: Any,
    filter: Filter | None = None,  # noqa: A002 - the 0.x name
    **options: Unpack[ServerConnectionOptions],
) -> Websocket:
    """Run the server handshake over ``sock``, an accepted stream; you close the result.

    The options are the :class:`~asyncwebsockets.accept.ServerConnectionOptions`.

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

    ``process_request`` (a hook, or a list of them, sync or async) sees
    every request first, plain HTTP included, and may answer it with an
    :class:`~asyncwebsockets.hooks.Response` instead of upgrading;
    ``process_response`` may adjust the 101 response (see
    :mod:`asyncwebsockets.hooks`).  ``server_header`` is the ``Server``
    header of the responses; None sends none.

    A malformed request is answered with HTTP 400 (405 for a method other
    than GET, 426 for plain HTTP or a wrong ``Sec-WebSocket-Version``) and
    raises :class:`HandshakeError`; a refused or hook-answered one raises
    :class:`HandshakeRejected`.  Both are ``ConnectionError``.

    The other options are the :class:`~asyncwebsockets.options.ConnectionOptions`;
    ``compression="deflate"`` accepts a client's permessage-deflate offer.
    The connection is serviced in a task of its own until it closes (on
    asyncio, a plain TCP stream needs none: its servicing runs in the
    event loop's callbacks).
    """
    accepting = ServerOptions.make("create_websocket_server", filter, options)
    ws = await accept_connection(as_transport(sock), accepting)
    ws._start()
    return ws


@asynccontextmanager
async def open_websocket_server(sock: Any, filter: Filter | None = None, **kwargs: Any) -> AsyncIterator[Websocket]:  # noqa: A002
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

    def __init__(self, close_timeout: float | None, listener: Listener[Any] | None = None) -> None:
        #: The anyio listener, when the server runs on one.
        self.listener = listener
        self._sockets: list[socket.socket] = []
        self._connections: set[Websocket] = set()
        self._handlers = 0
        self._close_timeout = close_timeout
        # What close() asked for: code, reason, seconds for the handlers.
        self._closing: tuple[int, str, float | None] | None = None
        self._stop = anyio.Event()
        self._stopped = anyio.Event()
        self._idle: anyio.Event | None = None
        self._stop_listening: Callable[[], Awaitable[None]] = _nothing

    # -- what it is --------------------------------------------------------------

    @property
    def listeners(self) -> list[Listener[Any]]:
        if self.listener is None:
            return []
        inner = getattr(self.listener, "listener", self.listener)  # under a TLSListener
        return list(getattr(inner, "listeners", [inner]))

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets."""
        if self._sockets:
            return list(self._sockets)
        return [listener.extra(SocketAttribute.raw_socket) for listener in self.listeners]

    @property
    def port(self) -> int:
        """The TCP port the server listens on (every listening socket shares it)."""
        return self.ports[0]

    @property
    def ports(self) -> list[int]:
        return [int(sock.getsockname()[1]) for sock in self.sockets]

    @property
    def connections(self) -> frozenset[Websocket]:
        """The connections open now (handshake done, handler running)."""
        return frozenset(self._connections)

    @property
    def closing(self) -> bool:
        return self._closing is not None

    # -- stopping ------------------------------------------------------------------

    def close(self, code: int = 1001, reason: str = "server shutting down", timeout: float | None = None) -> None:
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

    async def aclose(
        self, code: int = 1001, reason: str = "server shutting down", timeout: float | None = None
    ) -> None:
        """:meth:`close`, then :meth:`wait_closed`."""
        self.close(code, reason, timeout)
        await self.wait_closed()

    async def _run(
        self, accept: Callable[[TaskGroup], Coroutine[Any, Any, None]], task_status: TaskStatus[WebSocketServer]
    ) -> None:
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

    async def _serve_connection(self, handler: Handler, stream: Any, options: ServerOptions) -> None:
        """Handshake, handler, and the close that suits its end; never raises but cancellation."""
        transport = as_transport(stream)
        peer = _peer(transport)  # while the socket can still tell
        try:
            ws = await accept_connection(transport, options)
        except HandshakeRejected as exc:
            # Refused by the filter, or answered by process_request (a
            # health check, say): the server's own doing, no failure.
            logger.debug("request from %s answered with HTTP %s", peer, exc.status_code)
            return
        except HandshakeError as exc:
            logger.info("opening handshake from %s failed: %s", peer, exc)
            return
        except TRANSPORT_ERRORS as exc:
            logger.info("connection from %s lost during the opening handshake: %s", peer, exc)
            return
        except Exception:
            logger.exception("error in a filter or hook for a request from %s", peer)
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
                await ws.close(CLOSE_GOING_AWAY, "server shutting down")
            raise
        except Exception:
            logger.exception("error in the connection handler for %s", peer)
            with anyio.CancelScope(shield=True):
                await ws.close(CLOSE_INTERNAL_ERROR, "internal error")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await ws.close(CLOSE_INTERNAL_ERROR, "internal error")
            raise
        finally:
            self._connections.discard(ws)
            self._handlers -= 1
            if self._idle is not None and not self._handlers:
                self._idle.set()
        with anyio.CancelScope(shield=True):
            await ws.close()
        logger.debug("connection from %s closed: %s", peer, ws.close_code)


async def _nothing() -> None:
    pass


#: Seconds between attempts to accept while the process is out of resources.
ACCEPT_RETRY = 0.1

#: What accept() fails with while the process (or system) is out of file
#: descriptors or memory: a reason to wait and retry, not to stop serving.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _out_of_resources(exc: BaseException) -> OSError | None:
    """The resource error behind a listener's failure, if that is what it was.

    anyio raises it as is on asyncio, as the cause of a
    ``BrokenResourceError`` on trio, and within an exception group from a
    ``MultiListener``.
    """
    while True:
        group = getattr(exc, "exceptions", None)
        if group is not None and len(group) == 1:
            exc = group[0]
        elif isinstance(exc, anyio.BrokenResourceError) and exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            break
    if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
        return exc
    return None


def _peer(transport: Transport) -> Any:
    return transport.extra(SocketAttribute.remote_address, "an unknown peer")


async def serve_listener(
    handler: Handler,
    listener: Listener[Any],
    filter: Filter | None = None,  # noqa: A002
    *,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ServerConnectionOptions],
) -> None:
    """Serve WebSocket connections accepted by ``listener`` until closed or cancelled.

    See :func:`serve`: the same, on an anyio listener you made.
    """
    accepting = ServerOptions.make("serve_listener", filter, options)
    server = WebSocketServer(accepting.settings.close_timeout, listener)
    await _serve_on_listener(server, handler, listener, accepting, task_status)


async def _serve_on_listener(
    server: WebSocketServer,
    handler: Handler,
    listener: Listener[Any],
    options: ServerOptions,
    task_status: TaskStatus[WebSocketServer],
) -> None:
    accepting = anyio.CancelScope()
    accepted_all = anyio.Event()
    starved: list[OSError] = []

    async def run(stream: Any) -> None:
        if starved:
            logger.warning("accepting connections again after %s", starved[0].strerror)
            starved.clear()
        await server._serve_connection(handler, stream, options)

    async def accept(connections: TaskGroup) -> None:
        try:
            with accepting:
                while True:
                    try:
                        await listener.serve(run, connections)
                        return
                    except Exception as exc:
                        error = _out_of_resources(exc)
                        if error is None:
                            raise
                    # Out of file descriptors or memory: the connections
                    # being served still work, and closing one frees room.
                    if not starved:
                        logger.error("cannot accept connections: %s; retrying every %s s", error, ACCEPT_RETRY)
                        starved.append(error)
                    await anyio.sleep(ACCEPT_RETRY)
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
    host: str | None = None,
    port: int = 0,
    filter: Filter | None = None,  # noqa: A002
    *,
    ssl: _ssl.SSLContext | None = None,
    backlog: int = 65536,
    sock: socket.socket | None = None,
    path: str | None = None,
    reuse_port: bool = False,
    task_status: TaskStatus[WebSocketServer] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ServerConnectionOptions],
) -> None:
    """Listen on ``host``:``port`` (TLS with ``ssl``) and serve until closed or cancelled.

    Use it with ``await task_group.start(serve, handler, host, port)`` to
    get the :class:`WebSocketServer` (its port, its connections, and
    :meth:`~WebSocketServer.close` to stop it) once it listens.  With no
    ``host``, it listens on every interface, IPv4 and IPv6, on one port.
    Instead of a host and port it may listen on a Unix socket at ``path``,
    or on ``sock``, a bound socket you made (say, one systemd passed in);
    ``reuse_port=True`` lets several processes listen on the same port,
    the kernel sharing the connections out (Linux, BSD).

    Each connection runs ``handler(ws)`` in its own task once the handshake
    succeeds (``filter``, ``subprotocols``, ``extra_headers``, the hooks and
    the :class:`~asyncwebsockets.options.ConnectionOptions` are those of
    :func:`create_websocket_server`).  Failed handshakes are answered,
    logged and dropped.  When the handler returns, the connection is closed
    with 1000; if it raises, the error is logged on the
    ``asyncwebsockets.server`` logger and the connection closed with 1011,
    and the server goes on serving everyone else.  Out of file
    descriptors, it serves the connections it has and accepts again as
    soon as it can.

    The server stops when :meth:`WebSocketServer.close` is called (then
    ``serve`` returns) or when it is cancelled (then it re-raises the
    cancellation): either way it stops listening, closes every connection
    with 1001, waits up to ``close_timeout`` for the handlers to return,
    and cancels those that have not.
    """
    accepting = ServerOptions.make("serve", filter, options)
    timeout = accepting.settings.open_timeout
    tls_timeout = TLS_HANDSHAKE_TIMEOUT if timeout is None else timeout
    sockets = await _listening_sockets(host, port, backlog, sock, path, reuse_port)
    server = WebSocketServer(accepting.settings.close_timeout)
    if asyncio_open.enabled():
        await _serve_asyncio(server, handler, sockets, ssl, backlog, tls_timeout, accepting, task_status)
        return
    listeners: list[Listener[Any]] = [await SocketListener.from_socket(one) for one in sockets]
    listener: Listener[Any] = listeners[0] if len(listeners) == 1 else MultiListener(listeners)
    if ssl is not None:
        listener = _QuietTLSListener(listener, ssl, standard_compatible=False, handshake_timeout=tls_timeout)
    server.listener = listener
    await _serve_on_listener(server, handler, listener, accepting, task_status)


async def _listening_sockets(
    host: str | None, port: int, backlog: int, sock: socket.socket | None, path: str | None, reuse_port: bool
) -> list[socket.socket]:
    """The sockets to listen on: the one given, a Unix socket, or TCP ones made by anyio.

    anyio knows how to listen on every interface with one port for IPv4
    and IPv6; its sockets are taken over (duplicated, then its listener
    closed), so that either backend can serve them its own way.
    """
    if sock is not None:
        if host is not None or path is not None or port:
            raise TypeError("serve() takes a sock, or a path, or a host and port; not several")
        sock.setblocking(False)
        sock.listen(backlog)
        return [sock]
    if path is not None:
        if host is not None or port:
            raise TypeError("serve() takes a path, or a host and port; not both")
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # left behind by an earlier server
        except FileNotFoundError:
            pass
        try:
            unix.bind(path)
            unix.listen(backlog)
        except BaseException:
            unix.close()
            raise
        unix.setblocking(False)
        return [unix]
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port, backlog=backlog, reuse_port=reuse_port)
    inner = getattr(listener, "listeners", [listener])
    sockets = [one.extra(SocketAttribute.raw_socket).dup() for one in inner]
    await listener.aclose()
    return sockets


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
    sockets: list[socket.socket],
    ssl: _ssl.SSLContext | None,
    backlog: int,
    tls_timeout: float,
    options: ServerOptions,
    task_status: TaskStatus[WebSocketServer],
) -> None:
    """:func:`serve` on asyncio's own server and protocol callbacks (see asyncio_open).

    asyncio hands each accepted connection to a callback, where no task
    runs (so no task can be started from it under a plain
    ``asyncio.run()``): the callback queues the connection and wakes one
    task, which starts the connection's task.
    """
    accepted: deque[AsyncioTransport] = deque()
    wakeup = AsyncioWakeup()

    def on_connect(transport: AsyncioTransport) -> None:
        accepted.append(transport)
        wakeup.set()

    listening = [
        await asyncio_open.start_server(on_connect, sock, ssl=ssl, backlog=backlog, ssl_handshake_timeout=tls_timeout)
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
