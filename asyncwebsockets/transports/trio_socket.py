"""A faster transport for plain TCP connections on trio.

Through anyio, every ``send`` and ``receive`` on trio ends in a full trip
through the scheduler, even when the socket could take or give the bytes at
once: with small messages that is two event-loop rounds per message, most of
the cost. Here the socket is tried directly first (it is non-blocking); only
when it would block do we wait, straight on trio's I/O manager. Reads stop
trying first once a try finds nothing, until a read fills its buffer: when
messages come one at a time, the try would fail every time. The rest of a
large frame is read straight into its payload, in one read where the socket
has it all. A cancellation check precedes every operation, and every 64
operations we yield to the scheduler anyway, so other tasks are never
starved.

Used only where it is safe: a plain TCP anyio stream on trio, which keeps
no buffer of its own (TLS streams do, so they are left alone).
"""

from __future__ import annotations

import math
import socket
from typing import Any

from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.tls import TLSAttribute

from .._frame_writer_py import FrameParts
from .._wakeup import on_trio
from .base import RECEIVE_SIZE
from .stream import StreamTransport

__all__ = ["TrioSocketTransport", "usable_for"]

#: Operations served straight from the socket between two scheduler yields.
YIELD_EVERY = 64

#: Tests turn this off to run the generic path on trio too.
USE_ON_TRIO = True


def usable_for(stream: Any) -> bool:
    """Whether ``stream`` is a plain TCP anyio stream on a running trio loop."""
    if not USE_ON_TRIO or not isinstance(stream, SocketStream) or not on_trio():
        return False
    if stream.extra(TLSAttribute.ssl_object, None) is not None:
        return False
    sock = stream.extra(SocketAttribute.raw_socket, None)
    return sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6)


class TrioSocketTransport(StreamTransport):
    """:class:`~asyncwebsockets.transports.stream.StreamTransport` with a direct fast path."""

    def __init__(self, stream: SocketStream) -> None:
        super().__init__(stream)
        import trio

        self._sock: socket.socket = stream.extra(SocketAttribute.raw_socket)
        self._trio = trio
        self._checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
        self._yield = trio.lowlevel.cancel_shielded_checkpoint
        self._operations = 0
        # Whether a read tries the socket before waiting for it.
        self._try_first = True

    async def receive(self) -> bytes:
        while True:
            data = await self.receive_until(None)
            if data is not None:
                # Bytes: only an open connection's frames are read into place.
                return bytes(data)

    async def receive_until(self, deadline: float | None, interruptible: bool = True) -> bytes | memoryview | None:
        """The next bytes; None at ``deadline`` or when poked.

        They are a view of a message's payload when the rest of a large
        frame was read into it: the caller feeds them on at once.

        The socket is tried first when the last read suggests more is
        waiting; only when it has nothing do we sleep, straight on trio's
        I/O manager (the stream's own ``receive`` would try the socket
        again and wrap the wait in more layers), in this same frame: an
        idle connection's reader waits here, and every frame it keeps
        costs memory on each of them.
        """
        sock = self._sock
        if self._try_first:
            await self._checkpoint_if_cancelled()
            try:
                data = self._read(sock)
            except (BlockingIOError, InterruptedError):
                # Messages come one at a time: until a read finds more than
                # it can take, wait first (a failed try costs a system call
                # and an exception per message).
                self._try_first = False
            except OSError:
                return b""
            else:
                await self._maybe_yield()
                return data
        trio = self._trio
        try:
            if not interruptible and (deadline is None or deadline == math.inf):
                await trio.lowlevel.wait_readable(sock)
            else:
                with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                    self._waiting = scope
                    try:
                        await trio.lowlevel.wait_readable(sock)
                    finally:
                        self._waiting = None
                if scope.cancelled_caught:
                    return None
            data = self._read(sock)
        except (BlockingIOError, InterruptedError):
            # Woken without data after all (another task may have
            # read it): the caller looks again.
            return None
        except (OSError, trio.ClosedResourceError):
            return b""
        self._try_first = len(data) >= RECEIVE_SIZE
        return data

    def _read(self, sock: socket.socket) -> bytes | memoryview:
        """Read what the socket has; the rest of a large frame goes straight into its payload."""
        sink = self._sink
        rest = None if sink is None else sink.connection.receive_buffer()
        if rest is None:
            return sock.recv(RECEIVE_SIZE)
        return rest[: sock.recv_into(rest)]

    async def send(self, data: FrameParts, more: bool = False) -> None:
        await self._checkpoint_if_cancelled()
        lock = self._lock
        sent = 0
        if not lock.locked:
            # Nobody else is sending, and nothing waits before the socket
            # has the frame: the lock is only needed for a rest that does not fit.
            try:
                if isinstance(data, tuple):
                    # A large frame as header and payload: one system call,
                    # and the payload is not copied.
                    sent = self._sock.sendmsg(data)
                    size = len(data[0]) + len(data[1])
                else:
                    sent = self._sock.send(data)
                    size = len(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = -1
            else:
                if sent == size:
                    await self._maybe_yield()
                    return
        async with lock:
            # A free lock is taken without waiting, so nothing can come
            # between the part sent above and the rest.  When nothing went
            # (or the connection is broken, which the stream then reports
            # itself), the rest is all of it.
            await self._send_locked(*_rest(data, max(sent, 0)))

    async def _maybe_yield(self) -> None:
        self._operations += 1
        if self._operations >= YIELD_EVERY:
            self._operations = 0
            await self._yield()


def _rest(data: FrameParts, sent: int) -> tuple[bytes | memoryview, ...]:
    """The pieces of ``data`` left after its first ``sent`` bytes (fewer than all) went out.

    Views where a piece was cut, so that nothing is copied.
    """
    if not isinstance(data, tuple):
        return (memoryview(data)[sent:] if sent else data,)
    header, payload = data
    if sent < len(header):
        return (memoryview(header)[sent:], payload)
    return (memoryview(payload)[sent - len(header) :],)
