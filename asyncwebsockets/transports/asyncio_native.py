"""A transport straight on asyncio's protocol callbacks: no task per connection.

anyio's generic streams cost an event-loop round trip per call and a
future per read, and a reader task per connection costs a wake-up per
message.  On asyncio (and uvloop) a :class:`asyncio.BufferedProtocol` can
do all of a connection's servicing inside the callbacks the event loop
makes anyway: received bytes go straight to the frame parser, pings are
answered and close frames replied to from there, keepalive runs on one
loop timer, and the application's queue filling up pauses reading.  The
application's tasks only wake when a message for them is queued.

``send`` writes a frame to the transport at once, whole, and only waits
when asyncio asks us to stop writing (``pause_writing``): a write is never
split, so a cancelled ``send`` cannot leave half a frame behind.

Used for connections we open ourselves (``create_websocket``, ``serve``)
and for anyio TCP streams on asyncio handed to us, whose asyncio transport
we take over; :mod:`.asyncio_open` does all three.
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any, cast

import anyio
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

from .._frame_writer_py import FrameParts
from .._wakeup import reading
from ..connection import ConnectionState
from .base import Sink

__all__ = ["AsyncioTransport"]

#: During the opening handshake, stop reading from the socket when this much
#: is received but not yet taken: a slow handshake cannot make us buffer more.
READ_HIGH_WATER = 256 * 1024

#: Frames held back by ``send(..., more=True)`` are written once they add
#: up to this much, at the latest.
CORK_LIMIT = 64 * 1024

#: A send this soon (seconds) after the previous one is taken as part of a
#: burst, and held back like one sent with ``more``: a sender in a loop
#: gets one write per burst, one waiting for answers is not delayed.
BURST_GAP = 25e-6

#: Bytes read from the socket at most at a time.
READ_SIZE = 256 * 1024

#: Where ``writelines`` joins its pieces (see :func:`_gathers`), a frame
#: whose payload is at least this large is written as two pieces, header
#: then payload; a smaller one is joined first.  The header alone makes a TCP segment of its own, which
#: wakes the peer once more: next to copying a payload this large, that
#: costs little.
SEPARATE_WRITES = 256 * 1024

#: Seconds a closing transport may take to flush to a peer that does not
#: read, before it is dropped.
CLOSE_LIMIT = 5.0

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
    buffer: memoryview | None = getattr(_read_buffers, "buffer", None)
    if buffer is None:
        buffer = _read_buffers.buffer = memoryview(bytearray(READ_SIZE))
    return buffer


class AsyncioTransport(asyncio.BufferedProtocol):
    """Both the asyncio protocol of one connection and its :class:`~.base.Transport`."""

    def __init__(self, on_connect: Callable[[AsyncioTransport], None] | None = None) -> None:
        self._on_connect = on_connect
        self._buffer = _read_buffer()
        # What get_buffer() last handed out: the shared buffer, or the rest
        # of a large frame's payload.
        self._into = self._buffer
        self._transport: asyncio.Transport = cast(asyncio.Transport, None)
        self._peername: Any = None
        self._sockname: Any = None
        self._loop = cast(asyncio.AbstractEventLoop, None)
        self._sink: Sink | None = None
        # Until start(): what arrived, for the handshake's receive().
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._read_waiter: asyncio.Future[None] | None = None
        # Pausing is lazy: _reading_paused says we want no more input,
        # _stopped that asyncio was told so, which happens only once a read
        # comes anyway (that read is held in _held until reading resumes).
        self._reading_paused = False
        self._stopped = False
        self._held: list[bytes] = []
        # Writing.
        self._writing_paused = False
        self._paused_for_replies = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._corked: list[bytes] = []
        self._corked_size = 0
        self._flush_handle: asyncio.Handle | None = None
        self._last_send = 0.0
        self._write_limits = (256 * 1024, 64 * 1024)
        # Whether the transport's writelines() sends a frame's pieces as they are.
        self._gathers = False
        # The end: closed (or aborted) by us, closing sequence begun, lost.
        self._closed = False
        self._closing = False
        self._lost = False
        # One timer: keepalive ticks while open, the closing deadline after.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- asyncio's callbacks -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but
        # they have the same methods.
        self._setup(cast(asyncio.Transport, transport))
        if self._on_connect is not None:
            self._on_connect(self)

    def _setup(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        # Looked up once: asyncio.get_running_loop() costs a system call
        # (getpid) on every use.
        self._loop = asyncio.get_running_loop()
        # Asked for now, while the socket is open: uvloop raises instead of
        # answering once its transport is closed, and a peer that resets
        # right after connecting closes it before anyone asks.
        self._gathers = _gathers(transport)
        self._peername = _info(transport, "peername")
        self._sockname = _info(transport, "sockname")
        sock = _info(transport, "socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Frames are whole messages already; don't let Nagle hold them.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.set_write_limits(*self._write_limits)

    @classmethod
    def take_over(cls, transport: asyncio.Transport, received: list[bytes], eof: bool) -> AsyncioTransport:
        """Become the protocol of an open ``transport``, after ``received`` and, with ``eof``, its end."""
        ours = cls()
        ours._setup(transport)
        ours._chunks = received
        ours._size = sum(map(len, received))
        ours._eof = eof
        transport.set_protocol(ours)
        # Someone else's protocol may have paused reading; we read all along.
        transport.resume_reading()
        return ours

    def get_buffer(self, sizehint: int) -> memoryview:
        sink = self._sink
        if sink is not None and not self._reading_paused:
            # The rest of a large frame is read straight into its payload.
            rest = sink.connection.receive_buffer()
            if rest is not None:
                self._into = rest
                return rest
        self._into = self._buffer
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        sink = self._sink
        if sink is not None and not self._reading_paused:
            if self._into is self._buffer:
                reading(self._loop, self._read_done, sink, nbytes)
            else:
                # Read into a payload, which asyncio holds a view of until
                # we return: the tasks this wakes run in the loop's next
                # round instead, so that the payload is freed as soon as
                # they are done with it, not after they allocate the next.
                self._read_done(sink, nbytes)
            return
        into = self._into
        self._into = self._buffer
        if sink is not None:
            # Reading is paused: keep this read until it resumes.
            self._held.append(bytes(into[:nbytes]))
            self._stop()
        else:
            if self._reading_paused:
                self._stop()
            self.data_received(bytes(into[:nbytes]))

    def _read_done(self, sink: Sink, nbytes: int) -> None:
        into = self._into
        # Not kept: it may be a large payload that an idle connection
        # should not hold on to.
        self._into = self._buffer
        # The parser copies what it keeps: no need to copy the read first.
        sink.data_received(into[:nbytes])
        self.poke()

    def _received(self, sink: Sink, data: bytes | memoryview) -> None:
        sink.data_received(data)
        self.poke()

    def data_received(self, data: bytes) -> None:
        """Before start(): keep the bytes for the handshake's receive()."""
        self._chunks.append(data)
        self._size += len(data)
        if self._size > READ_HIGH_WATER:
            self.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        sink = self._sink
        if sink is not None:
            # Nothing more comes; returning False closes our side too, and
            # connection_lost() finishes the connection.
            self._closing = True
            sink.eof_received()
        self._wake_reader()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = self._closing = True
        self._cancel_timer()
        self._wake_reader()
        self._wake_writers()
        if self._sink is not None:
            self._sink.finished()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers()
        if self._paused_for_replies:
            self._paused_for_replies = False
            sink = self._sink
            if sink is None or not sink.paused:
                self.resume_reading()

    # -- servicing the open connection -------------------------------------------

    def start(self, sink: Sink) -> None:
        self._sink = sink
        if self._lost:
            sink.eof_received()
            sink.finished()
            return
        if self._chunks:
            # Bytes that came after the handshake's last read.
            data = b"".join(self._chunks)
            self._chunks = []
            self._size = 0
            sink.data_received(data)
        if self._eof:
            self._closing = True
            sink.eof_received()
            return
        if self._reading_paused and not sink.paused:
            self.resume_reading()
        self.poke()

    def poke(self) -> None:
        """After the sink took input or changed: write what is owed, start closing, or re-arm."""
        sink = self._sink
        if sink is None:
            return
        conn = sink.connection
        owed = conn.data_to_send()
        if owed:
            self._write(owed)
            if self._writing_paused and not self._reading_paused:
                # The peer does not read what it makes us answer (pongs to
                # a ping flood): stop reading it until it does.
                self._paused_for_replies = True
                self.pause_reading()
        if conn.state is ConnectionState.CLOSED:
            if not self._closing:
                self._begin_closing(sink)
        elif sink.next_tick < self._timer_at:
            self._arm(sink.next_tick)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        sink = self._sink
        if self._closing or sink is None:
            # The peer did not finish closing in time.
            self.abort()
            return
        sink.tick(self._loop.time())
        self.poke()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer) if when != math.inf else None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf

    def _begin_closing(self, sink: Sink) -> None:
        """Close TCP the way RFC 6455 section 7.1.1 asks, bounded in time."""
        self._closing = True
        half_close, wait = sink.closing_plan()
        transport = self._transport
        if wait == 0:
            self._flush()
            transport.close()
            # connection_lost() follows once the peer has read what is left.
            self._arm(self._loop.time() + CLOSE_LIMIT)
            return
        if half_close:
            # We failed the connection: half-close and read what still
            # comes, so unread input does not make the kernel reset the
            # connection and discard our close frame before the peer reads it.
            self._flush()
            if transport.can_write_eof():
                try:
                    transport.write_eof()
                except OSError:
                    pass
        if self._reading_paused:
            self.resume_reading()
        self._arm(math.inf if wait is None else self._loop.time() + wait)

    def pause_reading(self) -> None:
        """Take no more input; asyncio is told only if some comes anyway.

        A full queue is usually drained before the next read is due (the
        application runs in the same loop iteration), and telling asyncio
        to pause and resume costs two system calls each time.  So this only
        sets a flag; a read that arrives while it is set is held, unparsed,
        and only then does asyncio stop reading.  Memory stays bounded by
        one read more.
        """
        self._reading_paused = True

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            if not self._transport.is_closing():
                self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and not self._paused_for_replies:
            self._reading_paused = False
            if self._held:
                # Parse what was held first, outside the caller's frame: it
                # may fill the queue again.
                self._loop.call_soon(self._feed_held)
            elif self._stopped:
                self._stopped = False
                if not self._transport.is_closing():
                    self._transport.resume_reading()

    def _feed_held(self) -> None:
        held = self._held
        sink = self._sink
        if self._reading_paused or not held or sink is None:
            return
        self._held = []
        reading(self._loop, self._received, sink, held[0] if len(held) == 1 else b"".join(held))
        if not self._reading_paused and self._stopped:
            self._stopped = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    # -- the handshake's reads -------------------------------------------------------

    async def receive(self) -> bytes:
        if not self._chunks:
            if self._eof:
                return b""
            waiter = self._read_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._read_waiter = None
            if not self._chunks:
                return b""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        self.resume_reading()
        return data

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writing ---------------------------------------------------------------------

    def set_write_limits(self, high: int, low: int) -> None:
        self._write_limits = (high, low)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.set_write_buffer_limits(high=high, low=low)

    async def send(self, data: FrameParts, more: bool = False) -> None:
        """Write ``data`` (see :meth:`write_now`), then wait while the peer is not reading."""
        if self.write_now(data, more):
            await self.drain()

    def write_now(self, data: FrameParts, more: bool = False) -> bool:
        """Write ``data``; with ``more``, it may wait a moment for company.

        Returns whether the caller should wait for :meth:`drain`: a sender
        on the hot path calls this directly, and the common case, a write
        that needs no waiting, costs no coroutine.

        Each write to the socket is a system call, which costs more than
        framing a small message.  A caller that knows more frames follow
        right away (a server answering a batch of received messages) says
        ``more=True``; a frame sent within :data:`BURST_GAP` of the
        previous one is treated the same.  Such a frame is held back and
        goes out in one write with the next ones, at the latest when
        :data:`CORK_LIMIT` is reached, the transport closes, or the event
        loop runs (which it does as soon as the sender waits for anything).

        A large frame given as header and payload goes out at once, behind
        anything held back, its payload not copied: with ``writelines``
        where that takes the pieces as they are, else as two writes where
        the payload is large enough (see :data:`SEPARATE_WRITES`).
        """
        transport = self._transport
        if self._closed or transport.is_closing():
            raise anyio.BrokenResourceError
        if isinstance(data, tuple):
            self._flush()
            if self._gathers:
                transport.writelines(data)
            elif len(data[1]) < SEPARATE_WRITES:
                transport.write(b"".join(data))
            else:
                transport.write(data[0])
                transport.write(data[1])
            return self._writing_paused
        now = self._loop.time()
        burst = now - self._last_send < BURST_GAP
        self._last_send = now
        if more or burst:
            self._corked.append(data)
            self._corked_size += len(data)
            if self._corked_size < CORK_LIMIT:
                if self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._flush)
                return False
            self._flush()
        elif self._corked:
            self._corked.append(data)
            self._flush()
        else:
            transport.write(data)
        return self._writing_paused

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark again."""
        if self._writing_paused:
            if self._lost:
                # Nothing will drain it any more.
                raise anyio.BrokenResourceError
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self._loop.create_future()
            # Shielded: one slow peer's drain is shared by all its senders,
            # and one sender's cancellation must not cancel the others' wait.
            await asyncio.shield(waiter)
            if self._closed or self._lost:
                raise anyio.BrokenResourceError

    def _write(self, data: bytes) -> None:
        """Write what the protocol owes the peer, behind anything held back."""
        if self._corked:
            self._corked.append(data)
            self._flush()
        elif not self._transport.is_closing():
            self._transport.write(data)

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

    def _wake_writers(self) -> None:
        # A closed transport flushes its buffer only if the peer reads: a
        # sender waiting for that drain must not wait for ever.
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- closing -----------------------------------------------------------------------

    @property
    def send_is_atomic(self) -> bool:
        return True

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
        self._closed = self._closing = True
        self._flush()
        self._transport.close()
        self._wake_writers()
        if not self._lost:
            self._arm(self._loop.time() + CLOSE_LIMIT)

    def abort(self) -> None:
        self._closed = self._closing = True
        self._cancel_timer()
        self._corked = []
        self._transport.abort()
        self._wake_writers()

    def extra(self, attribute: Any, default: Any = None) -> Any:
        if attribute is SocketAttribute.remote_address:
            return default if self._peername is None else self._peername
        if attribute is SocketAttribute.local_address:
            return default if self._sockname is None else self._sockname
        if attribute is SocketAttribute.remote_port:
            return self._peername[1] if isinstance(self._peername, tuple) else default
        if attribute is SocketAttribute.local_port:
            return self._sockname[1] if isinstance(self._sockname, tuple) else default
        if attribute is SocketAttribute.raw_socket:
            return _info(self._transport, "socket", default)
        if attribute is TLSAttribute.ssl_object:
            return _info(self._transport, "ssl_object", default)
        return default


def _gathers(transport: asyncio.BaseTransport) -> bool:
    """Whether ``transport.writelines`` hands its pieces on as they are.

    asyncio's socket transport joins them into one ``bytes`` before Python
    3.12, and sends them with one ``sendmsg`` from then on; its TLS
    transport, and uvloop's transports, take them as they are.
    """
    return sys.version_info >= (3, 12) or type(transport).__module__ != "asyncio.selector_events"


def _info(transport: asyncio.BaseTransport, name: str, default: Any = None) -> Any:
    """``transport.get_extra_info(name)``, or ``default`` where uvloop raises for a closed transport."""
    try:
        return transport.get_extra_info(name, default)
    except (RuntimeError, ValueError, OSError):
        return default
