"""What every transport offers, and what it drives once a connection is open.

A transport moves bytes for one connection.  During the opening handshake
it is used by pulling (:meth:`Transport.receive`); once the connection is
open, :meth:`Transport.start` hands it a :class:`Sink` and from then on the
transport *services* the connection on its own, whether or not the
application reads: it feeds what arrives to the sink, writes what the
protocol owes the peer (pongs, close replies), wakes the sink's timer for
keepalive, stops reading while the sink's queue is full, and carries out
the closing of the TCP connection.  How it does that is its own business:
asyncio's protocol callbacks with no task at all, or one reader task.
"""

from __future__ import annotations

from typing import Any, Protocol

import anyio

from .._frame_writer_py import FrameParts
from ..connection import Connection

__all__ = ["Transport", "Sink", "TRANSPORT_ERRORS", "RECEIVE_SIZE"]

#: Bytes asked for per read: large enough that a burst of small frames is
#: parsed in one go, small enough to bound what one read makes us hold.
RECEIVE_SIZE = 65536

#: What may go wrong under a transport, all meaning "the connection is gone".
TRANSPORT_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    ConnectionError,
    OSError,
)


class Sink(Protocol):
    """The receiving side of an open connection, as a transport drives it.

    Implemented by :class:`~asyncwebsockets.receiver.Receiver`.  Everything
    here is synchronous: a transport calls it from a protocol callback or
    from its reader task, then writes ``connection.data_to_send()``.
    """

    connection: Connection
    #: When :meth:`tick` wants to run next, on the transport's clock (inf: never).
    next_tick: float
    #: Whether the application's queue is full, so reading should stop.
    paused: bool
    #: Wakes the application's tasks waiting for messages.
    wakeup: Any

    @property
    def queued(self) -> int:
        """Messages waiting for the application."""

    def data_received(self, data: bytes | memoryview) -> None:
        """Bytes from the peer; a memoryview is only valid during the call."""

    def eof_received(self) -> None: ...

    def tick(self, now: float) -> None:
        """Keepalive and other timed duties; may queue bytes or fail the connection."""

    def closing_plan(self) -> tuple[bool, float | None]:
        """Once the connection is closed: (half-close first?, seconds to wait for the peer's EOF)."""

    def finished(self) -> None:
        """The transport is closed: nothing more will happen."""


class Transport(Protocol):
    """What a Websocket needs from the connection below it."""

    async def receive(self) -> bytes:
        """The next bytes from the peer (handshake only); ``b""`` once the connection ended."""

    async def send(self, data: FrameParts, more: bool = False) -> None:
        """Write all of ``data``, waiting while the peer is not reading.

        ``data`` is one or more whole frames, or a large frame as its header
        and payload (``FrameWriter.frame_parts``), which go out as one: the
        payload is written without being copied where the transport can.

        ``more=True`` says more frames follow at once, so a transport may
        hold ``data`` back briefly to write them together; it must still
        go out without further calls (e.g. once the event loop runs).
        Raises one of :data:`TRANSPORT_ERRORS` when the connection is gone.
        """

    def start(self, sink: Sink) -> None:
        """Begin servicing the open connection (see the module docstring).

        A transport that needs a task for that starts one of its own, outside
        any task group (:func:`~asyncwebsockets._wakeup.spawn_detached`): it
        ends when the connection does, which every way of making one
        guarantees (``close()`` drops a connection that does not close in
        time), and it never raises.
        """

    def set_write_limits(self, high: int, low: int) -> None:
        """Where buffered outgoing data makes ``send`` wait, and where it resumes."""

    def pause_reading(self) -> None:
        """Stop reading from the network until :meth:`resume_reading`."""

    def resume_reading(self) -> None: ...

    def poke(self) -> None:
        """The connection changed outside the transport (say, it failed): act on it."""

    async def aclose(self) -> None:
        """Close the connection; never raises for a connection already gone."""

    def extra(self, attribute: Any, default: Any = None) -> Any:
        """anyio typed attributes (peer address, TLS details, ...)."""

    def abort(self) -> None:
        """Drop the connection now, without waiting for anything."""

    @property
    def send_is_atomic(self) -> bool:
        """Whether a cancelled :meth:`send` still delivers its bytes whole.

        When it does not, a send cancelled part-way may have written part
        of a frame: the transport then drops the connection itself, rather
        than let it continue garbled.  A send cancelled before it wrote
        anything (waiting for its turn, say) leaves the connection as it was.
        """
