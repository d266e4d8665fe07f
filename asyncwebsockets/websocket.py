"""The :class:`Websocket` object: one open connection, as the application sees it.

The connection is serviced by its transport whether or not the
application reads (see :mod:`asyncwebsockets.transports.base`): pings are
answered, keepalive pings sent, the peer's close answered, and messages
queued in a bounded queue (:mod:`asyncwebsockets.receiver`).  This object
takes messages from that queue and sends what the application asks for.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import anyio
from anyio.abc import SocketAttribute
from wsproto.events import Event, Message, Request

from ._frame_writer_py import FrameParts
from .connection import Connection, ConnectionState
from .exceptions import ConnectionClosed
from .options import Settings
from .permessage_deflate import PerMessageDeflate
from .protocol import CLOSE_ABNORMAL_CLOSURE, CLOSE_INTERNAL_ERROR, CLOSE_NO_STATUS_RCVD
from .receiver import Receiver
from .streaming import MessageStream
from .transports.base import TRANSPORT_ERRORS, Transport
from .transports.stream import SendLock

__all__ = ["Websocket"]

#: Seconds to wait for a transport that was dropped to report it is closed.
ABORT_WAIT = 1.0

Data = str | bytes | bytearray | memoryview


class Websocket:
    """A WebSocket connection after its opening handshake.

    Iterate over it for the messages the peer sends (``TextMessage`` and
    ``BytesMessage`` from :mod:`wsproto.events`); the iteration ends once the
    connection is closed, and :attr:`close_code`/:attr:`close_reason` say
    how.  Pings from the peer are answered, keepalive pings sent and the
    peer's close answered for you, whether or not you iterate.

    Objects are made by the functions in :mod:`asyncwebsockets.client` and
    :mod:`asyncwebsockets.server`, not directly.
    """

    def __init__(
        self,
        transport: Transport,
        connection: Connection,
        settings: Settings,
        logger: logging.Logger,
        events: Iterable[Event] = (),
    ) -> None:
        self._transport = transport
        # The asyncio transport writes without a coroutine when it can.
        self._write_now: Callable[[FrameParts, bool], bool] | None = getattr(transport, "write_now", None)
        self._conn = connection
        self._close_timeout = settings.close_timeout
        self._logger = logger
        self._receiver = Receiver(connection, transport, settings, logger, anyio.current_time(), events)
        self._debug = logger.isEnabledFor(logging.DEBUG)
        # Held while a message is sent from an iterable of fragments.
        self._fragmenting: SendLock | None = None

    def _start(self) -> None:
        """Hand the open connection to its transport, which services it from now on."""
        self._transport.start(self._receiver)

    # -- what the connection is ----------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the handshake agreed on, or None."""
        return self._conn.subprotocol

    @property
    def compression(self) -> PerMessageDeflate | None:
        """The permessage-deflate parameters the handshake agreed on, or None (uncompressed)."""
        return self._conn.compression

    @property
    def request(self) -> Request | None:
        """The opening request (received by a server, sent by a client)."""
        return self._conn.request

    @property
    def request_headers(self) -> list[tuple[bytes, bytes]]:
        request = self._conn.request
        return list(request.extra_headers) if request is not None else []

    @property
    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Extra headers of the 101 response (as received by a client, or sent by a server)."""
        return list(self._conn.response_headers)

    @property
    def remote_address(self) -> Any:
        """The peer's socket address, when the transport is a socket."""
        return self._transport.extra(SocketAttribute.remote_address, None)

    @property
    def local_address(self) -> Any:
        return self._transport.extra(SocketAttribute.local_address, None)

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def state(self) -> ConnectionState:
        return self._conn.state

    @property
    def closed(self) -> bool:
        """True once the close handshake finished or the connection was lost."""
        return self._conn.state is ConnectionState.CLOSED

    @property
    def close_code(self) -> int | None:
        """How the connection ended (None while it is open).

        The peer's close code (1005 if its close frame had none), or the one
        we failed the connection with, or 1006 when it was lost without a
        close frame.
        """
        return self._conn.close_code if self.closed else None

    @property
    def close_reason(self) -> str | None:
        return self._conn.close_reason if self.closed else None

    @property
    def latency(self) -> float:
        """Round trip of the latest keepalive ping, in seconds (0 before the first answer)."""
        return self._receiver.latency

    # -- receiving ---------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Message[Any]]:
        return self

    async def __anext__(self) -> Message[Any]:
        # A message already queued is taken without another coroutine.
        # Only messages are queued (control frames are handled on arrival).
        return self._receiver.take() or await self._receiver.get()  # type: ignore[return-value]

    async def receive(self) -> Message[Any]:
        """The next message; raises :class:`ConnectionClosed` once there are no more."""
        event = self._receiver.take()
        if event is not None:
            return event  # type: ignore[return-value]
        try:
            return await self._receiver.get()  # type: ignore[return-value]
        except StopAsyncIteration:
            raise self._conn.closed_exception() from None

    def receive_streaming(self) -> MessageStream:
        """The next message, as an async iterator of the fragments it arrives in.

        For messages too large to hold, or worth acting on before they
        end: ``async for fragment in ws.receive_streaming()`` yields
        ``str`` fragments of a text message or ``bytes`` of a binary one,
        each as soon as its frame is in (a character split between frames
        comes with the frame that completes it), and ends with the message.
        A message that is already queued whole comes as one fragment, and
        of a message partly received, what is already here comes first.
        Other messages are still reassembled; only this one is not, so
        ``max_message_size`` bounds each of its frames instead of the whole.

        Raises :class:`ConnectionClosed` if the connection ends first,
        before or during the message.  One stream at a time: another task
        starting one meanwhile gets :exc:`RuntimeError`, while other tasks'
        ``receive()`` gets the message after this one.  Leaving the loop
        early (or ``aclose()``) drops the rest of the message as it
        arrives; the next ``receive()`` gets the message after it.  See
        "Receive a message in pieces" in the how-to guide.
        """
        return MessageStream(self._receiver, self._conn)

    # -- sending -----------------------------------------------------------------

    async def send(self, data: Data | Iterable[Data] | AsyncIterable[Data], final: bool = True) -> None:
        """Send a text (``str``) or binary message.

        ``final=False`` sends a fragment: the message continues with the
        next ``send`` calls, up to the one with ``final=True``.  An iterable
        or async iterable of ``str`` (or of bytes) fragments is sent as one
        fragmented message, frame by frame as it produces them; other sends
        wait until it is complete.  Waits while the peer is not reading.
        Raises :class:`ConnectionClosed` once the connection is closing or
        closed, with the peer's close code if it closed first.
        """
        cls = type(data)
        if cls is not str and cls is not bytes and not isinstance(data, (str, bytes, bytearray, memoryview)):
            await self._send_fragments(data)
            return
        fragmenting = self._fragmenting
        if fragmenting is not None and fragmenting.locked:
            # Another task is sending a message in fragments: after it.
            async with fragmenting:
                pass
        frame = self._conn.send_message(data, final)  # type: ignore[arg-type]
        if self._debug:
            self._logger.debug("> %s (%d bytes)", "text" if cls is str else "binary", len(data))  # type: ignore[arg-type]
        receiver = self._receiver
        try:
            # While received messages are still queued, this is likely one
            # answer of a batch: the transport may gather them into one write.
            # (A closed transport raises: no need to look first.)
            write_now = self._write_now
            if write_now is None:
                await self._transport.send(frame, receiver._head < len(receiver._events))
            elif write_now(frame, receiver._head < len(receiver._events)):
                await self._transport.drain()  # type: ignore[attr-defined]
        except TRANSPORT_ERRORS:
            raise self._lost() from None

    async def _send_fragments(self, fragments: Iterable[Data] | AsyncIterable[Data]) -> None:
        """One message from an iterable of fragments, each sent as it comes (one ahead, to mark the last)."""
        if isinstance(fragments, AsyncIterable):
            iterator: Any = fragments.__aiter__()

            async def following() -> Data | None:
                try:
                    return await iterator.__anext__()  # type: ignore[no-any-return]
                except StopAsyncIteration:
                    return None

        elif isinstance(fragments, Iterable) and not isinstance(fragments, (dict, set, frozenset)):
            sync_iterator = iter(fragments)

            async def following() -> Data | None:
                return next(sync_iterator, None)

        else:
            raise TypeError(
                "a message is str or bytes, or an iterable or async iterable of str or bytes fragments, "
                f"not {type(fragments).__name__}"
            )
        if self._fragmenting is None:
            self._fragmenting = SendLock()
        async with self._fragmenting:
            current = await following()
            if current is None:
                return  # no fragments, no message
            started = False
            try:
                while True:
                    upcoming = await following()
                    frame = self._conn.send_message(current, upcoming is None)
                    started = True
                    await self._write(frame)
                    if upcoming is None:
                        return
                    current = upcoming
            except BaseException:
                if started and self._conn.state is ConnectionState.OPEN:
                    # Half a message is out and cannot be finished (a bad
                    # fragment, a producer that raised, a cancelled send): no
                    # other message may follow it (RFC 6455 section 5.4), so
                    # the connection fails, at once and without waiting.
                    self._receiver.fail(CLOSE_INTERNAL_ERROR, "message could not be finished")
                raise

    async def ping(self, payload: bytes | bytearray | memoryview | None = None) -> float:
        """Send a ping and wait for its pong; returns the round trip in seconds.

        The pong is picked up by the connection's servicing, whether or
        not anyone iterates.  It comes after the messages the peer sent
        before it: while ``max_queue`` of them wait to be taken, nothing
        more is read, and the pong waits with them.
        """
        if payload is None:
            payload = os.urandom(4)
        elif isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
        elif not isinstance(payload, bytes):
            raise TypeError(f"a ping's payload is bytes, not {type(payload).__name__}")
        receiver = self._receiver
        if payload in receiver.pings:
            raise ValueError("already waiting for a pong with this payload")
        frame = self._conn.send_ping(payload)
        receiver.pings[payload] = (time.perf_counter(), True)
        try:
            await self._write(frame)
            while payload not in receiver.latencies:
                if self._conn.state is ConnectionState.CLOSED or receiver.done:
                    raise self._conn.closed_exception()
                await receiver.next_input()
            return receiver.latencies[payload]
        finally:
            receiver.pings.pop(payload, None)
            receiver.latencies.pop(payload, None)

    async def pong(self, payload: bytes = b"") -> None:
        """Send an unsolicited pong, a one-way heartbeat."""
        await self._write(self._conn.send_pong(payload))

    async def _write(self, data: FrameParts, more: bool = False) -> None:
        """Write whole frames; a transport that is gone makes it ConnectionClosed."""
        if self._receiver.done:
            raise self._lost()
        try:
            await self._transport.send(data, more)
        except TRANSPORT_ERRORS:
            # (A send cancelled part-way through a frame is the transport's
            # to handle: it drops the connection, see Transport.send_is_atomic.)
            raise self._lost() from None

    def _lost(self) -> ConnectionClosed:
        """Record that the transport is gone; returns the exception to raise."""
        if self._conn.state is not ConnectionState.CLOSED:
            self._conn.receive_eof()
        return self._conn.closed_exception()

    # -- closing -----------------------------------------------------------------

    async def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Close the connection with the close handshake.

        Sends a close frame and waits, at most ``close_timeout`` seconds in
        all, for the peer's close frame and the end of the TCP connection;
        a peer that has not finished by then is dropped (code 1006).  Does
        nothing more on a closed connection.  ``code=None`` (or 1005) sends
        a close frame without a code; 1006 means "no close frame": the
        transport is dropped without one.
        """
        conn = self._conn
        if code == CLOSE_ABNORMAL_CLOSURE:
            await self.abort()
            return
        if code == CLOSE_NO_STATUS_RCVD:
            code = None
        receiver = self._receiver
        with anyio.move_on_after(self._close_timeout):
            if conn.state is ConnectionState.OPEN:
                data = conn.send_close(code, reason)
                receiver.prepare_to_close()
                try:
                    await self._write(data)
                except ConnectionClosed:
                    pass
            else:
                # Closing or closed already: a code that may not be sent is
                # still an error.
                conn.send_close(code, reason)
            while not receiver.done:
                await receiver.wakeup.wait()
        if not receiver.done:
            # No close frame (or end of TCP) in time.
            await self.abort()

    async def aclose(self) -> None:
        """Close with 1000; the anyio resource spelling of :meth:`close`."""
        await self.close()

    async def abort(self) -> None:
        """Drop the transport at once, without a close handshake (code 1006 if still open)."""
        receiver = self._receiver
        if self._conn.state is not ConnectionState.CLOSED:
            self._conn.receive_eof()
        if receiver.done:
            return
        self._transport.abort()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(ABORT_WAIT):
                while not receiver.done:
                    await receiver.wakeup.wait()
            if not receiver.done:
                # A transport that cannot be dropped synchronously (a memory
                # stream, say): closing it ends its reader.
                await self._transport.aclose()
                receiver.finished()

    async def __aenter__(self) -> Websocket:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        role = "client" if self._conn.client else "server"
        return f"<Websocket {role} {self._conn.state.name}>"
