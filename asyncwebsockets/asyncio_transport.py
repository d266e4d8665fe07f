"""A transport straight on asyncio's protocol callbacks, for connections we open.

anyio's generic streams cost an event-loop round trip per call (a checkpoint
in every ``send`` and ``receive``) and a future per read.  When the backend
is asyncio and the socket is ours (``create_websocket`` with a URL, or
``serve``), a plain :class:`asyncio.Protocol` does the same job with none of
that: received bytes pile up until the reader wakes, once per batch;
``send`` writes the frame to the transport at once, whole, and only waits
when asyncio asks us to stop writing (``pause_writing``).  Because a write
is never split, a cancelled ``send`` cannot leave half a frame behind.

It offers the :class:`~asyncwebsockets.transport.Transport` interface, so
the :class:`~asyncwebsockets.websocket.Websocket` above does not know which
one it has.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import ssl as _ssl
from typing import Any, Callable, List, Optional, cast

import anyio
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

__all__ = ["AsyncioTransport", "connect", "start_server", "enabled"]

#: Stop reading from the socket when this much is received but not yet
#: taken by the reader: the connection's share of backpressure.
READ_HIGH_WATER = 256 * 1024

#: Writers wait while more than this is queued in the transport.
WRITE_HIGH_WATER = 256 * 1024


#: Tests turn this off to run the generic anyio path on asyncio too.
USE_ON_ASYNCIO = True


def enabled() -> bool:
    """Whether to use this transport: the running backend is asyncio (or uvloop)."""
    if not USE_ON_ASYNCIO:
        return False
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return False
        except RuntimeError:
            pass
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_TIMED_OUT = object()


def _time_out(waiter: "asyncio.Future[Any]") -> None:
    if not waiter.done():
        waiter.set_result(_TIMED_OUT)


class _StreamProtocol(asyncio.Protocol):
    """Collects received bytes and tracks write flow control for one connection."""

    def __init__(self, on_connect: Optional[Callable[["AsyncioTransport"], None]] = None) -> None:
        self._on_connect = on_connect
        self.transport: Optional[asyncio.Transport] = None
        self.chunks: List[bytes] = []
        self.size = 0
        self.eof = False
        self.reading_paused = False
        self.writing_paused = False
        self.read_waiter: Optional[asyncio.Future[Any]] = None
        self.drain_waiter: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but
        # they have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Frames are whole messages already; don't let Nagle hold them.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        # asyncio's default 64 KiB high-water mark makes every 64 KiB message
        # wait for a drain; a few messages' worth keeps the socket busy.
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self._on_connect is not None:
            self._on_connect(AsyncioTransport(self))

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > READ_HIGH_WATER and not self.reading_paused:
            assert self.transport is not None
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        # Returning False lets asyncio close our side too; a WebSocket has
        # nothing to send once the peer closed TCP.
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.eof = True
        self._wake_reader()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioTransport:
    """The :class:`~asyncwebsockets.transport.Transport` over an asyncio protocol."""

    def __init__(self, protocol: _StreamProtocol) -> None:
        assert protocol.transport is not None
        self._protocol = protocol
        self._transport = protocol.transport
        self._closed = False

    @property
    def send_is_atomic(self) -> bool:
        return True

    async def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        protocol = self._protocol
        if not protocol.chunks:
            if protocol.eof:
                return b""
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            protocol.read_waiter = waiter
            timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
            try:
                await waiter
            finally:
                protocol.read_waiter = None
                if timer is not None:
                    timer.cancel()
            if not protocol.chunks:
                return None if waiter.result() is _TIMED_OUT else b""
        chunks = protocol.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        protocol.chunks = []
        protocol.size = 0
        if protocol.reading_paused and not protocol.eof:
            protocol.reading_paused = False
            self._transport.resume_reading()
        return data

    async def send(self, data: bytes) -> None:
        transport = self._transport
        if self._closed or transport.is_closing():
            raise anyio.BrokenResourceError
        transport.write(data)
        protocol = self._protocol
        if protocol.writing_paused:
            waiter = protocol.drain_waiter
            if waiter is None or waiter.done():
                waiter = asyncio.get_running_loop().create_future()
                protocol.drain_waiter = waiter
            # Shielded: one slow peer's drain is shared by all its senders,
            # and one sender's cancellation must not cancel the others' wait.
            await asyncio.shield(waiter)
            if self._closed or (transport.is_closing() and protocol.eof):
                raise anyio.BrokenResourceError

    async def send_eof(self) -> None:
        transport = self._transport
        if not transport.is_closing() and transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                pass

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._transport.close()
        self._wake_writers()

    def abort(self) -> None:
        self._closed = True
        self._transport.abort()
        self._wake_writers()

    def _wake_writers(self) -> None:
        # A closed transport flushes its buffer only if the peer reads: a
        # sender waiting for that drain must not wait for ever.
        waiter = self._protocol.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def extra(self, attribute: Any, default: Any = None) -> Any:
        transport = self._transport
        if attribute is SocketAttribute.remote_address:
            return transport.get_extra_info("peername", default)
        if attribute is SocketAttribute.local_address:
            return transport.get_extra_info("sockname", default)
        if attribute is SocketAttribute.raw_socket:
            return transport.get_extra_info("socket", default)
        if attribute is SocketAttribute.local_port:
            name = transport.get_extra_info("sockname")
            return name[1] if isinstance(name, tuple) else default
        if attribute is SocketAttribute.remote_port:
            name = transport.get_extra_info("peername")
            return name[1] if isinstance(name, tuple) else default
        if attribute is TLSAttribute.ssl_object:
            return transport.get_extra_info("ssl_object", default)
        return default


async def connect(
    host: str, port: int, ssl: Optional[_ssl.SSLContext], server_hostname: Optional[str]
) -> AsyncioTransport:
    """Open a TCP (or TLS) connection with our protocol on the running loop."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        _StreamProtocol,
        host,
        port,
        ssl=ssl,
        server_hostname=server_hostname if ssl is not None else None,
    )
    return AsyncioTransport(protocol)


async def start_server(
    on_connect: Callable[[AsyncioTransport], None],
    host: Optional[str],
    port: int,
    *,
    ssl: Optional[_ssl.SSLContext],
    backlog: int,
    ssl_handshake_timeout: Optional[float],
) -> asyncio.base_events.Server:
    """Listen with our protocol; ``on_connect`` gets each accepted connection."""
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {}
    if ssl is not None and ssl_handshake_timeout:
        kwargs["ssl_handshake_timeout"] = ssl_handshake_timeout
    return await loop.create_server(
        lambda: _StreamProtocol(on_connect),
        host,
        port,
        ssl=ssl,
        backlog=backlog,
        reuse_address=True,
        **kwargs,
    )
