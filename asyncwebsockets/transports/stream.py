"""A transport over any anyio byte stream, serviced by one reader task.

This is the transport for everything that is not a plain socket we can
drive more directly: TLS streams on trio, Unix sockets, memory streams,
trio's native streams (which the 0.x releases took), and whatever else a
caller hands to ``create_websocket_client``/``create_websocket_server``.

Once the connection is open, one task per connection (:meth:`StreamTransport.start`)
reads, feeds the :class:`~.base.Sink`, writes what the protocol owes the
peer, runs the keepalive timer as the read's deadline, and closes the
stream at the end.  Sends from the application and from that task share
a lock, because a stream write is not atomic.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import weakref
from collections import deque
from time import monotonic as _monotonic
from typing import Any, cast

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, SocketAttribute

from .._frame_writer_py import FrameParts
from .._wakeup import Wakeup, new_wakeup, on_trio, spawn_detached
from ..connection import ConnectionState
from .base import RECEIVE_SIZE, TRANSPORT_ERRORS, Sink

__all__ = ["StreamTransport", "TrioStreamAdapter", "SendLock"]

logger = logging.getLogger("asyncwebsockets")

#: Seconds the reader task leaves the socket to an application that asked
#: to read for itself, before reading on (see read_for_application).
GRACE = 0.005

#: Seconds an application that took a message may stay away from the
#: socket before its reader task takes over again; also how often the
#: watchdog looks while applications come and go.  Each look wakes the
#: event loop, which on an otherwise idle machine costs a few hundred
#: microseconds of CPU: at 20 looks a second that is well under 1 %,
#: and a ping that comes while the application is busy is still
#: answered within a tenth of a second.
AWAY_LIMIT = 0.05

#: Seconds closing a stream may take (a TLS stream may wait for the peer's
#: close_notify) before it is dropped.
CLOSE_LIMIT = 5.0

# Looked up once: compared on every read an application makes for itself.
_OPEN = ConnectionState.OPEN


class SendLock:
    """A FIFO lock that costs nothing when free.

    ``anyio.Lock`` yields to the event loop on every acquisition, even an
    uncontended one; for one lock per sent message that is most of the cost
    of a small send on trio. This one only waits when another task holds it.
    """

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        # Made on first contention: an empty deque is most of a kilobyte,
        # and most connections never contend.
        self._waiters: deque[anyio.Event] | None = None

    async def __aenter__(self) -> None:
        if not self._locked:
            self._locked = True
            return
        event = anyio.Event()
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                # Handed the lock just as we were cancelled: pass it on.
                self._release()
            else:
                assert self._waiters is not None
                self._waiters.remove(event)
            raise

    async def __aexit__(self, *exc_info: Any) -> None:
        self._release()

    @property
    def locked(self) -> bool:
        return self._locked

    def _release(self) -> None:
        if self._waiters:
            # Ownership goes straight to the next waiter: it stays locked.
            self._waiters.popleft().set()
        else:
            self._locked = False


class TrioStreamAdapter:
    """Lets a trio stream (``send_all``/``receive_some``) stand in for an anyio one."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def receive(self, max_bytes: int = RECEIVE_SIZE) -> bytes:
        data = await self._stream.receive_some(max_bytes)
        if not data:
            raise anyio.EndOfStream
        return bytes(data)

    async def send(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def aclose(self) -> None:
        await self._stream.aclose()

    def extra(self, attribute: Any, default: Any = None) -> Any:
        if attribute is SocketAttribute.remote_address:
            sock = getattr(self._stream, "socket", None)
            if sock is not None:
                try:
                    return sock.getpeername()
                except OSError:
                    pass
        return default


class _Watchdog:
    """Wakes the readers whose application went away with the socket, one per event loop.

    An application task that reads for itself (see
    :meth:`StreamTransport.read_for_application`) leaves the reader task
    parked when it takes a message; if it is not back within ``AWAY_LIMIT``
    seconds, this wakes the reader.  Recording a departure is a dict
    insertion, where a timer per departure would cost a cancel scope's
    deadline change, several microseconds on trio, for every message.  The
    watchdog ticks every ``AWAY_LIMIT`` while it has work and ends after a
    quiet spell; the next departure starts it again.
    """

    _loops: weakref.WeakKeyDictionary[Any, _Watchdog] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.away: dict[StreamTransport, float] = {}
        self._ticking = False

    @classmethod
    def of_this_loop(cls) -> _Watchdog:
        key: Any
        if on_trio():
            import trio

            key = trio.lowlevel.current_root_task()
        else:
            key = asyncio.get_running_loop()
        watchdog = cls._loops.get(key)
        if watchdog is None:
            watchdog = cls._loops[key] = cls()
        return watchdog

    def leave(self, transport: StreamTransport) -> None:
        # Departures are only compared with each other, so any monotonic
        # clock does; the C one costs a fraction of the event loop's.
        self.away[transport] = _monotonic() + AWAY_LIMIT
        if not self._ticking:
            self._ticking = True
            spawn_detached(self._tick)

    async def _tick(self) -> None:
        quiet = 0
        try:
            while quiet < 5:
                await anyio.sleep(AWAY_LIMIT)
                away = self.away
                if not away:
                    quiet += 1
                    continue
                quiet = 0
                now = _monotonic()
                for transport, due in list(away.items()):
                    if due <= now:
                        del away[transport]
                        transport._wake_reader()
        except BaseException:
            # Cancelled with its event loop: wake everyone left, once.
            for transport in list(self.away):
                transport._wake_reader()
            self.away.clear()
            raise
        finally:
            self._ticking = False


def _raw_socket(stream: Any) -> socket.socket | None:
    """The socket under an anyio Unix socket stream on asyncio, which reads it directly."""
    if type(stream).__name__ != "UNIXSocketStream" or type(stream).__module__ != "anyio._backends._asyncio":
        return None
    sock: socket.socket | None = stream.extra(SocketAttribute.raw_socket, None)
    return sock


class StreamTransport:
    """A transport over an anyio byte stream."""

    def __init__(self, stream: ByteStream | Any) -> None:
        self._stream = stream
        self._closed = False
        self._aborted = False
        self._sink: Sink | None = None
        self._lock = SendLock()
        self._paused = False
        # While an application task waits for a message it reads the
        # socket itself (see read_for_application), and the reader task
        # stands aside, parked (see _park).
        self._application_reads = False
        self._application_waits = False
        self._parked = False
        # The deadline of the parked reader's wait.
        self._parked_until = math.inf
        self._watchdog: _Watchdog | None = None
        self._resume: Wakeup | None = None
        # The scope of a read that is waiting, so that poke() can interrupt it.
        self._waiting: anyio.CancelScope | None = None
        self._raw = _raw_socket(stream)

    @property
    def stream(self) -> ByteStream | Any:
        return self._stream

    @property
    def send_is_atomic(self) -> bool:
        # Nothing tells us how much of an interrupted send_all went out.
        return False

    # -- reading -------------------------------------------------------------

    async def receive(self) -> bytes:
        if self._raw is not None:
            return await self._receive_raw(self._raw)
        try:
            return bytes(await self._stream.receive(RECEIVE_SIZE))
        except TRANSPORT_ERRORS:
            return b""

    async def _receive_raw(self, sock: socket.socket) -> bytes:
        """Read an anyio Unix socket stream on asyncio from its socket.

        Its own ``receive`` leaves a callback that completes a cancelled
        future behind when it is cancelled at the wrong moment, and asyncio
        then logs an InvalidStateError; we cancel waiting reads all the
        time (keepalive deadlines, handing the socket to the application).
        anyio's ``wait_readable`` is safe to cancel.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                return sock.recv(RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return b""
            try:
                await anyio.wait_readable(sock)
            except (OSError, anyio.ClosedResourceError, anyio.BusyResourceError):
                return b""

    async def receive_until(self, deadline: float | None, interruptible: bool = True) -> bytes | memoryview | None:
        """The next bytes; None at ``deadline`` (on anyio's clock) or when poked.

        ``interruptible=False`` (with no deadline) saves the cancel scope
        that lets :meth:`poke` interrupt the wait.
        """
        if not interruptible and (deadline is None or deadline == math.inf):
            return await self.receive()
        with anyio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
            self._waiting = scope
            try:
                return await self.receive()
            finally:
                self._waiting = None
        return None

    def start(self, sink: Sink) -> None:
        # A task of its own, not one in a task group: anyio wraps each of
        # those in cancel scopes of its own, kilobytes per idle connection.
        self._resume = new_wakeup()
        self._sink = sink
        spawn_detached(self._service, sink)

    async def _service(self, sink: Sink) -> None:
        """The reader task: everything a connection needs until its transport closes.

        It may run where no task group would see an error (see
        :func:`~asyncwebsockets._wakeup.spawn_detached`), so it never
        raises one: an unexpected error is logged and drops the connection.
        """
        conn = sink.connection
        eof = False
        try:
            while True:
                owed = conn.data_to_send()
                if owed:
                    try:
                        await self.send(owed)
                    except TRANSPORT_ERRORS:
                        eof = True
                        sink.eof_received()
                        break
                if conn.state is ConnectionState.CLOSED or self._aborted:
                    break
                if self._paused:
                    await self._park(math.inf)
                    continue
                if self._application_reads:
                    # The application's task reads without a deadline (on
                    # trio a cancel scope per message would cost more than
                    # the message): this task keeps the keepalive clock.
                    await self._park(sink.next_tick)
                    now = anyio.current_time()
                    if self._application_reads and sink.next_tick <= now:
                        sink.tick(now)
                    continue
                if self._application_waits:
                    # An application task waits for a message: it will read
                    # for itself, unless it does not come within the grace.
                    self._application_waits = False
                    sink.wakeup.set()
                    await self._park(anyio.current_time() + GRACE)
                    continue
                data = await self.receive_until(sink.next_tick)
                if data is None:
                    sink.tick(anyio.current_time())
                elif data:
                    sink.data_received(data)
                else:
                    eof = True
                    sink.eof_received()
                    break
            if not (eof or self._aborted):
                await self._linger(sink)
        except Exception:
            logger.exception("error servicing a connection; dropping it")
            self.abort()
        finally:
            await self.aclose()
            sink.finished()

    async def _park(self, deadline: float) -> None:
        """Wait (the reader task) until resumed, or until ``deadline``."""
        assert self._resume is not None
        self._parked = True
        self._parked_until = deadline
        try:
            if deadline == math.inf:
                # The usual wait of an idle connection's reader, which only
                # a wake-up ends: a cancel scope would cost memory on each.
                await self._resume.wait()
            else:
                with anyio.CancelScope(deadline=deadline):
                    await self._resume.wait()
        finally:
            self._parked = False

    async def read_for_application(self, sink: Sink) -> bool:
        """Service the connection in the application's task while it waits for a message.

        Handing each message from the reader task to the application task
        costs a task switch, which with one message at a time is a large
        share of the round trip on trio.  So an application task that
        finds the queue empty does the reading itself, and the reader task
        stands aside, parked.  When the application takes its message and
        goes off to work on it, the reader is not woken (that would cost
        the switch again): the event loop's :class:`_Watchdog` wakes it
        if the application is not back within ``AWAY_LIMIT`` seconds.  So
        pings still get answered, within a tenth of a second, while the
        application is busy.  The read itself has no deadline: the parked
        reader wakes for keepalive's ticks, which come seconds apart,
        where a deadline here would cost a cancel scope per message.

        Returns False when the application has to wait instead (another
        task reads, reading is paused, the connection is closing).
        """
        conn = sink.connection
        if self._application_reads or self._paused or self._closed or self._aborted or conn.state is not _OPEN:
            return False
        if not self._parked:
            # The reader is at work or waits on the stream (which one task
            # at a time may do): ask it to step aside, and to wake us when
            # it has.
            self._application_waits = True
            if self._waiting is not None:
                self._waiting.cancel()
            return False
        self._application_reads = True
        watchdog = self._watchdog
        if watchdog is None:
            watchdog = self._watchdog = _Watchdog.of_this_loop()
        watchdog.away.pop(self, None)
        receive_until = self.receive_until
        try:
            # The caller found the queue empty, so read at once.
            while True:
                if sink.next_tick < self._parked_until:
                    # The parked reader keeps the clock (see _service); a
                    # tick came due sooner than it waits: it parks again.
                    self._wake_reader()
                data = await receive_until(None, interruptible=False)
                if data is None:
                    # Woken with nothing to read after all.
                    continue
                if data:
                    sink.data_received(data)
                    control = conn.last_had_control
                else:
                    sink.eof_received()
                    break
                if conn.state is not _OPEN or self._aborted:
                    # The reader sends what is owed and closes TCP.
                    break
                if control:
                    # Pongs go out at once (only a control frame leaves
                    # something to send).
                    owed = conn.data_to_send()
                    if owed:
                        await self.send(owed)
                    # A pong may be what the caller waits for (ping()).
                    break
                if sink.queued:
                    break
        except TRANSPORT_ERRORS:
            sink.eof_received()
        finally:
            self._application_reads = False
            if conn.state is not _OPEN or self._aborted:
                self._wake_reader()
            else:
                watchdog.leave(self)
        return True

    def _wake_reader(self) -> None:
        """Wake the reader task from its park (the application is gone, or the end has come)."""
        if self._resume is not None:
            self._resume.set()

    async def _linger(self, sink: Sink) -> None:
        """Close the TCP connection the way RFC 6455 section 7.1.1 asks."""
        half_close, wait = sink.closing_plan()
        if half_close:
            # We failed the connection: half-close and read what still
            # comes, so unread input does not make the kernel reset the
            # connection and discard our close frame before the peer reads it.
            await self.send_eof()
        if wait == 0:
            return
        end = math.inf if wait is None else anyio.current_time() + wait
        if self._application_reads:
            # A keepalive tick failed the connection while the application's
            # task reads: it reads what still comes, and wakes us when the
            # peer's answer ends its read.
            await self._park(end)
            if self._application_reads:
                self.abort()
                return
        with anyio.move_on_at(end) as waited:
            while await self.receive():
                pass
        if waited.cancelled_caught:
            self.abort()

    def pause_reading(self) -> None:
        self._paused = True

    def set_write_limits(self, high: int, low: int) -> None:
        """Nothing to set: a stream's send returns once the data is written."""

    def resume_reading(self) -> None:
        self._paused = False
        self.poke()

    def poke(self) -> None:
        if self._resume is not None:
            self._resume.set()
        if self._waiting is not None:
            self._waiting.cancel()

    # -- writing -------------------------------------------------------------

    async def send(self, data: FrameParts, more: bool = False) -> None:
        async with self._lock:
            if isinstance(data, tuple):
                await self._send_locked(*data)
            else:
                await self._send_locked(data)

    async def _send_locked(self, *pieces: bytes | memoryview) -> None:
        """Write ``pieces``, one after the other, as one frame (or the rest of one).

        A cancellation between two pieces is one in the middle of the frame:
        it drops the connection, as below.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        # A send already cancelled goes no further: nothing is written, and
        # the connection is left as it was.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            for piece in pieces:
                # anyio's and trio's streams write any bytes-like object (a
                # memoryview is what is left of a frame, not copied).
                await self._stream.send(cast(bytes, piece))
        except TRANSPORT_ERRORS:
            raise
        except BaseException:
            # Cancelled mid-write: part of a frame may be out.  Dropping the
            # connection is the only way the peer never sees a garbled stream,
            # and the application sees it gone at once.
            self.abort()
            if self._sink is not None:
                self._sink.eof_received()
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def send_eof(self) -> None:
        send_eof = getattr(self._stream, "send_eof", None)
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if send_eof is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            # Only TCP resets a connection that closes with unread input;
            # anyio's asyncio Unix streams also misbehave on a half-close.
            return
        try:
            with anyio.move_on_after(CLOSE_LIMIT):
                async with self._lock:
                    await send_eof()
        except (NotImplementedError, *TRANSPORT_ERRORS):
            pass

    # -- closing -------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.poke()
        if self._raw is not None:
            # Wake a read waiting on the socket before it goes.
            anyio.notify_closing(self._raw)
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(CLOSE_LIMIT) as waited:
                try:
                    await self._stream.aclose()
                except TRANSPORT_ERRORS:
                    pass
            if waited.cancelled_caught:
                await anyio.aclose_forcefully(self._stream)

    def extra(self, attribute: Any, default: Any = None) -> Any:
        try:
            return self._stream.extra(attribute, default)
        except (OSError, ValueError, RuntimeError):
            # A closed socket has no addresses left to report (uvloop's
            # sockets raise ValueError or RuntimeError once closed).
            return default

    def abort(self) -> None:
        # anyio has no synchronous abort; a forced shutdown is the next
        # best, and the reader stops at once (it releases the stream).
        self._aborted = True
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.poke()
