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
import threading
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

#: Frames held back by ``send(..., more=True)`` are written once they add
#: up to this much, at the latest.
CORK_LIMIT = 64 * 1024

#: A send this soon (seconds) after the previous one is taken as part of a
#: burst, and held back like one sent with ``more``: a sender in a loop
#: gets one write per burst, one waiting for answers is not delayed.
BURST_GAP = 25e-6


#: Bytes read from the socket at most at a time.
READ_SIZE = 256 * 1024

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


_read_buffers = threading.local()


def _read_buffer() -> memoryview:
    """The buffer the socket reads into, one per thread (so per event loop).

    A plain protocol gets a fresh ``bytes`` of asyncio's maximum read size
    for every read, shrunk to what arrived: above the C library's mmap
    threshold that is three system calls per read.  Reading into one
    long-lived buffer and copying out exactly what arrived avoids them,
    and sharing that buffer between the connections of a loop costs no
    memory per connection: it is only used inside one callback.
    """
    buffer: Optional[memoryview] = getattr(_read_buffers, "buffer", None)
    if buffer is None:
        buffer = _read_buffers.buffer = memoryview(bytearray(READ_SIZE))
    return buffer


class _StreamProtocol(asyncio.BufferedProtocol):
    """Collects received bytes and tracks write flow control for one connection."""

    def __init__(self, on_connect: Optional[Callable[["AsyncioTransport"], None]] = None) -> None:
        self._on_connect = on_connect
        self._buffer = _read_buffer()
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

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._buffer[:nbytes]))

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
        # Looked up once: asyncio.get_running_loop() costs a system call
        # (getpid) on every use.
        self._loop = asyncio.get_running_loop()
        # One timer serves every timed receive (see _arm_timer).
        self._timer: Optional[asyncio.TimerHandle] = None
        self._deadline = 0.0
        # Frames held back to go out in one write (see send's ``more``).
        self._corked: List[bytes] = []
        self._corked_size = 0
        self._flush_handle: Optional[asyncio.Handle] = None
        self._last_send = 0.0

    @property
    def send_is_atomic(self) -> bool:
        return True

    async def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        protocol = self._protocol
        if not protocol.chunks:
            if protocol.eof:
                return b""
            if self._corked:
                # About to sleep: what we held back goes out first.
                self._flush()
            waiter = self._loop.create_future()
            protocol.read_waiter = waiter
            if timeout is not None:
                self._arm_timer(timeout)
            try:
                await waiter
            finally:
                protocol.read_waiter = None
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

    def _arm_timer(self, timeout: float) -> None:
        """Time out the current read after ``timeout`` seconds.

        A timer made and cancelled for every read would cost more than
        reading a small message.  Instead one timer, once armed, stays
        armed: when it fires it either times out the read waiting then (if
        that read's deadline has passed), moves itself to that read's
        deadline, or, with no read waiting, lets itself lapse.
        """
        loop = self._loop
        deadline = loop.time() + timeout
        self._deadline = deadline
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._protocol.read_waiter
        if waiter is None or waiter.done():
            return
        # (Timers may fire a hair early; a millisecond is within any timeout's slack.)
        if self._loop.time() + 0.001 < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        waiter.set_result(_TIMED_OUT)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def send(self, data: bytes, more: bool = False) -> None:
        """Write ``data``; with ``more``, it may wait a moment for company.

        Each write to the socket is a system call, which costs more than
        framing a small message.  A caller that knows more frames follow
        right away (a server answering a batch of received messages) says
        ``more=True``; a frame sent within :data:`BURST_GAP` of the
        previous one is treated the same.  Such a frame is held back and
        goes out in one write with the next ones, at the latest when a
        read is about to sleep, :data:`CORK_LIMIT` is reached, the
        transport closes, or the event loop runs (which it does as soon as
        the sender waits for anything).
        """
        transport = self._transport
        if self._closed or transport.is_closing():
            raise anyio.BrokenResourceError
        now = self._loop.time()
        burst = now - self._last_send < BURST_GAP
        self._last_send = now
        if more or burst:
            self._corked.append(data)
            self._corked_size += len(data)
            if self._corked_size < CORK_LIMIT:
                if self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._flush)
                return
            self._flush()
        elif self._corked:
            self._corked.append(data)
            self._flush()
        else:
            transport.write(data)
        protocol = self._protocol
        if protocol.writing_paused:
            waiter = protocol.drain_waiter
            if waiter is None or waiter.done():
                waiter = self._loop.create_future()
                protocol.drain_waiter = waiter
            # Shielded: one slow peer's drain is shared by all its senders,
            # and one sender's cancellation must not cancel the others' wait.
            await asyncio.shield(waiter)
            if self._closed or (transport.is_closing() and protocol.eof):
                raise anyio.BrokenResourceError

    def _flush(self) -> None:
        """Write the held-back frames, in one piece."""
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
        corked = self._corked
        if not corked:
            return
        data = corked[0] if len(corked) == 1 else b"".join(corked)
        self._corked = []
        self._corked_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def send_eof(self) -> None:
        self._flush()
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
        self._cancel_timer()
        self._flush()
        self._transport.close()
        self._wake_writers()

    def abort(self) -> None:
        self._closed = True
        self._cancel_timer()
        self._corked = []
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
    if ssl is not None and ssl_handshake_timeout is not None:
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
