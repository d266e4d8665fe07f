"""The receiving half of an open connection: what the transport feeds, what the application takes.

A :class:`Receiver` sits between a transport, which services the
connection on its own (see :mod:`asyncwebsockets.transports.base`), and
the application's ``async for``.  Everything the transport calls is
synchronous and cheap; the application's side waits on one wake-up.

Received messages wait in a bounded queue: when it holds ``max_queue``
messages the transport stops reading, so TCP makes the peer wait and
memory stays bounded by the queue size times ``max_message_size`` (plus
two reads: the one that filled the queue, and one held unparsed); reading
resumes when the application has taken all but the low-water mark.

Keepalive runs on the transport's clock through :meth:`Receiver.tick`:
every ``ping_interval`` seconds a ping goes out, and if nothing at all has
arrived ``ping_timeout`` seconds later the connection is failed with 1011.
Any input proves the peer alive, and a peer whose data we have stopped
reading (our queue is full) is never blamed for our silence.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wsproto.events import BytesMessage, Event, Pong, TextMessage

from ._fragment import Fragment
from ._wakeup import new_wakeup
from .connection import Connection, ConnectionState
from .options import Settings
from .protocol import CLOSE_INTERNAL_ERROR
from .transports.base import Transport

if TYPE_CHECKING:
    from .streaming import MessageStream

__all__ = ["Receiver", "LINGER"]


#: Seconds to keep reading after failing a connection, so the peer can
#: read our close frame before the connection goes away.
LINGER = 2.0

#: Seconds the application gets to take (and answer) the messages that
#: preceded a protocol violation before the connection is failed anyway.
FAILURE_GRACE = 2.0

_INF = math.inf


class Receiver:
    """Receives for one open connection; see the module docstring."""

    def __init__(
        self,
        connection: Connection,
        transport: Transport,
        settings: Settings,
        logger: logging.Logger,
        now: float,
        events: Iterable[Event] = (),
    ) -> None:
        self.connection = connection
        self._transport = transport
        # Transports that let a waiting application task read for itself.
        self._read_for_application = getattr(transport, "read_for_application", None)
        # The queue: a list read from _head on, emptied when all is taken
        # (an empty deque costs most of a kilobyte per idle connection).
        self._events: list[Event] = list(events)
        self._head = 0
        self._high, self._low = settings.queue_marks
        self.paused = False
        #: True once the transport is closed and nothing more will come.
        self.done = False
        self.wakeup = new_wakeup()
        self._close_timeout = settings.close_timeout
        # Keepalive, on the transport's clock.
        self._interval = settings.ping_interval
        self._timeout = settings.ping_timeout
        self._ping_due = _INF if self._interval is None else now + self._interval
        self._pong_due = _INF
        self._failure_due = _INF
        self.next_tick = self._ping_due
        self._heard = False
        self._closed_seen = False
        #: Whether what is being read came after our close frame: what does
        #: not fit in the queue may then be dropped (RFC 6455 section 1.4).
        #: Messages that came before the peer's own close frame never are.
        self.discarding = False
        #: Pings waiting for a pong: payload -> (perf_counter at sending, sent by ping()).
        self.pings: dict[bytes, tuple[float, bool]] = {}
        #: Round trips of answered ping() calls, until the caller takes them.
        self.latencies: dict[bytes, float] = {}
        #: Round trip of the latest answered keepalive ping, in seconds.
        self.latency = 0.0
        self._logger = logger
        self._debug = logger.isEnabledFor(logging.DEBUG)
        #: The stream that the message the reader delivers as fragments
        #: goes to (None: no stream, or the rest of an abandoned message,
        #: which is dropped); see :mod:`asyncwebsockets.streaming`.
        self.stream: MessageStream | None = None

    # -- fed by the transport --------------------------------------------------------

    def data_received(self, data: bytes | memoryview) -> None:
        conn = self.connection
        self._heard = True
        self.discarding = conn.state is not ConnectionState.OPEN
        events = conn.receive_data(data)
        if events:
            queue = self._events
            if not conn.last_had_control:
                queue.extend(events)
            else:
                for event in events:
                    cls = type(event)
                    if cls is TextMessage or cls is BytesMessage:
                        queue.append(event)
                    elif cls is Pong:
                        self._pong_received(event.payload)  # type: ignore[attr-defined]
                    elif cls is Fragment:
                        stream = self.stream
                        if stream is not None:
                            stream.put(event)  # type: ignore[arg-type]
            if self._debug:
                for event in events:
                    self._logger.debug("< %s", _describe(event))
            if len(queue) - self._head >= self._high:
                self._queue_full()
            self.wakeup.set()
        if conn.state is not ConnectionState.OPEN:
            if conn.failure_pending and self._failure_due == _INF:
                # Tick at once: it starts the grace period on the clock.
                self.next_tick = 0.0
            elif conn.state is ConnectionState.CLOSED:
                self._now_closed()
        elif conn.pending_failure is not None and self._failure_due == _INF:
            self.next_tick = 0.0

    def _queue_full(self) -> None:
        if self.connection.state is ConnectionState.OPEN:
            if not self.paused:
                self.paused = True
                self._transport.pause_reading()
        elif self.discarding:
            # We are closing: keep reading for the peer's close frame, but
            # drop what does not fit (RFC 6455 section 1.4 lets us discard it).
            queue = self._events
            del queue[self._head + int(self._high) :]
        # Else the peer's close frame came in this read, after these
        # messages: they are all kept (no more than one read's worth over
        # the bound), and nothing more will come.

    def _now_closed(self) -> None:
        # The connection is closed (by the peer's input or a local failure);
        # reads go on after it (to find the end of TCP): once is enough.
        if self._closed_seen:
            return
        self._closed_seen = True
        conn = self.connection
        failure = conn.failure
        if failure is not None:
            self._logger.info(
                "failing the connection with %s (%s), peer %s",
                failure.code,
                failure.reason,
                _peer(self._transport),
            )
        self.next_tick = _INF
        self.wakeup.set()

    def eof_received(self) -> None:
        self.connection.receive_eof()
        self.next_tick = _INF
        self.wakeup.set()

    def tick(self, now: float) -> None:
        conn = self.connection
        if conn.failure_pending:
            if self._failure_due == _INF:
                self._failure_due = now + FAILURE_GRACE
            elif now >= self._failure_due:
                self.fail_pending()
        if conn.state is ConnectionState.OPEN and self._interval is not None:
            if self._pong_due != _INF:
                if self._heard or self.paused:
                    self._pong_due = _INF
                elif now >= self._pong_due:
                    self._logger.info("keepalive ping timeout: no answer from %s", _peer(self._transport))
                    conn.fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
                    self.wakeup.set()
            if conn.state is ConnectionState.OPEN and self._pong_due == _INF and now >= self._ping_due:
                payload = os.urandom(4)
                self.pings[payload] = (time.perf_counter(), False)
                conn.queue_ping(payload)
                self._heard = False
                self._ping_due = now + self._interval
                if self._timeout is not None:
                    self._pong_due = now + self._timeout
        if conn.state is ConnectionState.OPEN:
            # The next ping goes out on time if anything is heard before it
            # is due; once it is due, an unanswered ping waits for its deadline.
            keepalive = self._ping_due if self._ping_due > now else _INF
            self.next_tick = min(keepalive, self._pong_due, self._failure_due)
        else:
            self.next_tick = self._failure_due if conn.failure_pending else _INF

    def closing_plan(self) -> tuple[bool, float | None]:
        conn = self.connection
        if conn.remote_close is not None and conn.failure is None:
            # A clean close: the server closes TCP first (RFC 6455 section
            # 7.1.1), at once; a client gives it close_timeout to do so.
            return False, (self._close_timeout if conn.client else 0.0)
        linger = LINGER if self._close_timeout is None else min(self._close_timeout, LINGER)
        return True, linger

    def finished(self) -> None:
        if self.done:
            return
        self.done = True
        conn = self.connection
        if conn.state is not ConnectionState.CLOSED:
            conn.receive_eof()
        self.next_tick = _INF
        self.wakeup.set()
        if self._debug:
            self._logger.debug("connection closed: %s %s", conn.close_code, conn.close_reason)

    def _pong_received(self, payload: bytes) -> None:
        pings = self.pings
        if payload not in pings:
            return
        # A pong answers its ping and every ping sent before it (RFC 6455
        # section 5.5.3 lets a peer answer only the latest).
        now = time.perf_counter()
        for key in list(pings):
            sent, waited = pings.pop(key)
            if waited:
                self.latencies[key] = now - sent
            else:
                self.latency = now - sent
            if key == payload:
                break

    # -- taken by the application ------------------------------------------------------

    def take(self) -> Event | None:
        """The next queued event, or None if there is none yet (the fast path of :meth:`get`)."""
        events = self._events
        head = self._head
        size = len(events)
        if head >= size:
            return None
        event = events[head]
        head += 1
        if head == size:
            events.clear()
            head = size = 0
        self._head = head
        if self.paused and size - head <= self._low:
            self.paused = False
            self._transport.resume_reading()
        return event

    async def get(self) -> Event:
        """The next event; StopAsyncIteration once the connection is over and all are taken."""
        events = self._events
        while self._head >= len(events):
            if self.done:
                raise StopAsyncIteration
            if self.connection.pending_failure is not None:
                # Every message before the violation is taken: fail now.
                self.fail_pending()
                continue
            if self.stream is not None:
                # A message goes to a stream: ours is the one after it.
                self.stream.receiving_elsewhere()
            await self.next_input()
            events = self._events
        return self.take()  # type: ignore[return-value]

    async def next_input(self) -> None:
        """Wait for what comes next: read it in this task if the transport lets us, else wait to be woken."""
        reader = self._read_for_application if self.stream is None else None
        if reader is None or not await reader(self):
            await self.wakeup.wait()

    @property
    def queued(self) -> int:
        """Messages, and fragments of a streamed message, waiting for the application."""
        stream = self.stream
        return len(self._events) - self._head + (0 if stream is None else stream.held)

    def pending(self) -> list[Event]:
        """The queued events, oldest first (for inspection)."""
        return self._events[self._head :]

    def fail_pending(self) -> None:
        """Fail the connection for the violation that followed the queued messages."""
        conn = self.connection
        conn.receive_data(b"")
        self._failure_due = _INF
        self._now_closed()
        self._transport.poke()

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection for a local reason: the close frame goes out, TCP closes."""
        self.connection.fail(code, reason)
        self._now_closed()
        self._transport.poke()

    def pause(self) -> None:
        """Stop reading: a stream holds as many fragments as the queue may hold messages."""
        if not self.paused:
            self.paused = True
            self._transport.pause_reading()

    def resume_below(self, held: int) -> None:
        """Resume reading once both the queue and a stream's ``held`` fragments are down to the low mark."""
        if self.paused and held <= self._low and len(self._events) - self._head <= self._low:
            self.paused = False
            self._transport.resume_reading()

    def prepare_to_close(self) -> None:
        """We are about to send a close frame: the peer's answer must be read."""
        if self.paused:
            self.paused = False
            self._transport.resume_reading()


def _describe(event: Event) -> str:
    data = getattr(event, "data", None)
    if data is not None:
        return f"{type(event).__name__} ({len(data)} {'characters' if isinstance(data, str) else 'bytes'})"
    return repr(event)


def _peer(transport: Any) -> Any:
    from anyio.abc import SocketAttribute

    return transport.extra(SocketAttribute.remote_address, "an unknown peer")
