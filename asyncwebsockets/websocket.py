"""The :class:`Websocket` object: one open connection, as the application sees it.

Reading is pull-based: bytes are read from the network only when someone
needs an event (an ``async for``, :meth:`Websocket.ping` or
:meth:`Websocket.close` waiting for the peer).  There is no background task
per connection, so an idle connection costs little memory, and a slow
consumer stops reading, which makes TCP push back on the peer: the bytes
buffered for a connection stay below one read plus one message.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, AsyncIterator, Deque, Dict, List, Optional, Tuple, Union

import anyio
from anyio.abc import SocketAttribute
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Pong,
    Request,
    TextMessage,
)

from .connection import Connection, ConnectionState, Headers
from .exceptions import ConnectionClosed, ConnectionClosedError, HandshakeError, HandshakeTimeout
from .permessage_deflate import PerMessageDeflate
from .transport import TRANSPORT_ERRORS, Transport

__all__ = ["Websocket"]

#: Close code for a keepalive ping left unanswered (as other libraries use).
CLOSE_INTERNAL_ERROR = 1011

#: Seconds to keep reading after closing first, so the peer can read our
#: close frame before the connection goes away.
LINGER = 2.0


class SendLock:
    """A FIFO lock that costs nothing when free.

    ``anyio.Lock`` yields to the event loop on every acquisition, even an
    uncontended one; for one lock per sent message that is most of the cost
    of a small send on trio. This one only waits when another task holds it.
    """

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: Deque[anyio.Event] = deque()

    async def __aenter__(self) -> None:
        if not self._locked:
            self._locked = True
            return
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                # Handed the lock just as we were cancelled: pass it on.
                self._release()
            else:
                self._waiters.remove(event)
            raise

    async def __aexit__(self, *exc_info: Any) -> None:
        self._release()

    def _release(self) -> None:
        if self._waiters:
            # Ownership goes straight to the next waiter: it stays locked.
            self._waiters.popleft().set()
        else:
            self._locked = False


class Websocket:
    """A WebSocket connection after its opening handshake.

    Iterate over it for the messages the peer sends (``TextMessage`` and
    ``BytesMessage`` from :mod:`wsproto.events`); the iteration ends once the
    connection is closed, and :attr:`close_code`/:attr:`close_reason` say
    how.  Pings from the peer are answered for you.

    Objects are made by the functions in :mod:`asyncwebsockets.client` and
    :mod:`asyncwebsockets.server`, not directly.
    """

    def __init__(
        self,
        transport: Transport,
        connection: Connection,
        *,
        close_timeout: Optional[float] = 10.0,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
    ) -> None:
        self._transport = transport
        self._conn = connection
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._events: Deque[Event] = deque()
        self._send_lock = SendLock()
        self._atomic_send = transport.send_is_atomic
        # One task reads from the network at a time; others wait for it
        # on an event made only when someone does wait.
        self._reading = False
        self._pumped: Optional[anyio.Event] = None
        # Pings we sent and wait for: payload -> (event, send time).
        self._pings: Dict[bytes, Tuple[anyio.Event, float]] = {}
        self._latencies: Dict[bytes, float] = {}
        self._transport_closed = False
        self._eof_sent = False

    # -- what the connection is ----------------------------------------------

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol the handshake agreed on, or None."""
        return self._conn.subprotocol

    @property
    def compression(self) -> Optional[PerMessageDeflate]:
        """The permessage-deflate parameters the handshake agreed on, or None (uncompressed)."""
        return self._conn.compression

    @property
    def request(self) -> Optional[Request]:
        """The opening request (received by a server, sent by a client)."""
        return self._conn.request

    @property
    def request_headers(self) -> List[Tuple[bytes, bytes]]:
        request = self._conn.request
        return list(request.extra_headers) if request is not None else []

    @property
    def response_headers(self) -> List[Tuple[bytes, bytes]]:
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
    def close_code(self) -> Optional[int]:
        """How the connection ended (None while it is open).

        The peer's close code (1005 if its close frame had none), or the one
        we failed the connection with, or 1006 when it was lost without a
        close frame.
        """
        return self._conn.close_code if self.closed else None

    @property
    def close_reason(self) -> Optional[str]:
        return self._conn.close_reason if self.closed else None

    # -- receiving ---------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        events = self._events
        while not events:
            if self._conn.state is ConnectionState.CLOSED:
                await self._finish()
                raise StopAsyncIteration
            await self._pump()
        return events.popleft()

    async def receive(self) -> Message[Any]:
        """The next message; raises :class:`ConnectionClosed` once there are no more."""
        try:
            return await self.__anext__()  # type: ignore[return-value]
        except StopAsyncIteration:
            raise self._conn.closed_exception() from None

    async def _pump(self) -> None:
        """Read from the network once, or wait while another task does."""
        if self._reading:
            if self._pumped is None:
                self._pumped = anyio.Event()
            await self._pumped.wait()
            return
        self._reading = True
        try:
            await self._fill()
        finally:
            self._reading = False
            pumped = self._pumped
            if pumped is not None:
                self._pumped = None
                pumped.set()

    async def _fill(self) -> None:
        conn = self._conn
        if conn.failure_pending:
            # The messages before a protocol violation have been consumed:
            # now fail the connection, without waiting for more input.
            data = b""
        else:
            data = await self._receive()
            if not data:
                conn.receive_eof()
                await self._close_transport()
                return
        events = conn.receive_data(data)
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
        reply = conn.data_to_send()
        if reply:
            try:
                await self._write(reply)
            except ConnectionClosed:
                pass
        if conn.should_close_transport:
            # The server closes first (RFC 6455 section 7.1.1).
            await self._finish()

    async def _receive(self) -> bytes:
        """The next bytes, sending keepalive pings while the peer is silent."""
        interval = self._ping_interval
        if interval is None or self._conn.state is not ConnectionState.OPEN:
            return await self._transport.receive() or b""
        data = await self._transport.receive(interval)
        if data is not None:
            return data
        # Quiet for a whole interval: is the peer still there?
        payload = os.urandom(4)
        self._pings[payload] = (anyio.Event(), anyio.current_time())
        try:
            await self._write(self._conn.send_ping(payload))
        except ConnectionClosed:
            return b""
        data = await self._transport.receive(self._ping_timeout)
        if data is not None:
            return data
        # Anything from the peer would have done; nothing came.
        self._conn.fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
        await self._flush_failure()
        return b""

    async def _flush_failure(self) -> None:
        reply = self._conn.data_to_send()
        if reply:
            with anyio.move_on_after(self._close_timeout):
                try:
                    await self._write(reply)
                except ConnectionClosed:
                    pass

    def _pong_received(self, payload: bytes) -> None:
        if payload not in self._pings:
            return
        # A pong answers its ping and every ping sent before it (RFC 6455
        # section 5.5.3 lets a peer answer only the latest).
        now = anyio.current_time()
        for key in list(self._pings):
            event, sent = self._pings.pop(key)
            self._latencies[key] = now - sent
            event.set()
            if key == payload:
                break

    # -- sending -----------------------------------------------------------------

    async def send(self, data: Union[str, bytes, bytearray, memoryview], final: bool = True) -> None:
        """Send a text (``str``) or binary message.

        ``final=False`` sends a fragment: the message continues with the
        next ``send`` calls, up to the one with ``final=True``.  Waits while
        the peer is not reading.  Raises :class:`ConnectionClosed` once the
        connection is closing or closed.
        """
        if self._atomic_send:
            # Whole frames go to the transport in one synchronous write, so
            # they cannot interleave and need no lock.  While received
            # messages are still queued, this is likely one answer of a
            # batch: the transport may gather the answers into one write.
            await self._write_locked(self._conn.send_message(data, final), bool(self._events))
            return
        async with self._send_lock:
            await self._write_locked(self._conn.send_message(data, final))

    async def ping(self, payload: Optional[bytes] = None) -> float:
        """Send a ping and wait for its pong; returns the round trip in seconds.

        The pong is read by whichever task reads the connection: if another
        task iterates over it, that one; otherwise this one.
        """
        if payload is None:
            payload = os.urandom(4)
        if payload in self._pings:
            raise ValueError("already waiting for a pong with this payload")
        event = anyio.Event()
        self._pings[payload] = (event, anyio.current_time())
        try:
            await self._write(self._conn.send_ping(payload))
            while not event.is_set():
                if self._conn.state is ConnectionState.CLOSED:
                    raise self._conn.closed_exception()
                await self._pump()
            return self._latencies.pop(payload)
        finally:
            self._pings.pop(payload, None)
            self._latencies.pop(payload, None)

    async def pong(self, payload: bytes = b"") -> None:
        """Send an unsolicited pong, a one-way heartbeat."""
        await self._write(self._conn.send_pong(payload))

    async def _write(self, data: bytes) -> None:
        if self._atomic_send:
            await self._write_locked(data)
            return
        async with self._send_lock:
            await self._write_locked(data)

    async def _write_locked(self, data: bytes, more: bool = False) -> None:
        """Write bytes under the send lock (or atomically); frames never interleave."""
        if self._transport_closed:
            raise self._lost()
        try:
            await self._transport.send(data, more)
        except TRANSPORT_ERRORS:
            raise self._lost() from None
        except BaseException:
            # Cancelled mid-write: part of a frame may be out.  Dropping the
            # connection is the only way the peer never sees a garbled stream.
            if not self._transport.send_is_atomic:
                self._lost()
                with anyio.CancelScope(shield=True):
                    await self._close_transport()
            raise

    def _lost(self) -> ConnectionClosed:
        """Record that the transport is gone; returns the exception to raise."""
        if self._conn.state is not ConnectionState.CLOSED:
            self._conn.receive_eof()
        return self._conn.closed_exception()

    # -- closing -----------------------------------------------------------------

    async def close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Close the connection with the close handshake.

        Sends a close frame, waits up to ``close_timeout`` for the peer's,
        then closes the transport.  Does nothing on a closed connection.
        ``code=None`` (or 1005) sends a close frame without a code; 1006
        means "no close frame": the transport is dropped without one.
        """
        conn = self._conn
        if code == 1006:
            await self.abort()
            return
        if code == 1005:
            code = None
        if conn.state is ConnectionState.OPEN:
            data = conn.send_close(code, reason)
            with anyio.move_on_after(self._close_timeout):
                try:
                    await self._write(data)
                except ConnectionClosed:
                    pass
        if conn.state is not ConnectionState.CLOSED:
            with anyio.move_on_after(self._close_timeout):
                while not (self.closed or self._transport_closed):
                    await self._pump()
            if not self.closed:
                # No close frame came back in time: the connection ends
                # abnormally (1006), and the transport is dropped below.
                conn.receive_eof()
        await self._finish()

    async def aclose(self) -> None:
        """Close with 1000; the anyio resource spelling of :meth:`close`."""
        await self.close()

    async def abort(self) -> None:
        """Drop the transport at once, without a close handshake (code 1006)."""
        if self._conn.state is not ConnectionState.CLOSED:
            self._conn.receive_eof()
        if not self._transport_closed:
            # At once: what is still queued for the peer is dropped.
            self._transport.abort()
        await self._close_transport()

    async def _finish(self) -> None:
        """Close the transport once the WebSocket is closed (RFC 6455 section 7.1.1).

        The server closes TCP first; a client gives it ``close_timeout`` to
        do so, then closes itself.
        """
        if self._transport_closed:
            return
        conn = self._conn
        if conn.state is ConnectionState.CLOSED:
            clean = conn.remote_close is not None and conn.failure is None
            if clean and not conn.client:
                # Nothing can follow the client's close frame: close now.
                await self._close_transport()
                return
            if clean:
                # The server closes TCP first; give it time.
                wait = self._close_timeout
            else:
                # A failed connection, which we close first. Half-close and
                # read what is still coming, so that unread input does not
                # make the kernel reset the connection and discard our close
                # frame before the peer has read it.
                await self._send_eof()
                wait = LINGER if self._close_timeout is None else min(self._close_timeout, LINGER)
            if not self._reading:
                # Read through _pump; not from inside it (a _fill that
                # closes the connection ends here and lets the next read
                # finish the job).
                with anyio.move_on_after(wait) as waited:
                    while not self._transport_closed:
                        await self._pump()
                if waited.cancelled_caught:
                    # The peer did not close in time: drop the connection
                    # rather than wait for it to read what is still queued.
                    self._transport.abort()
                await self._close_transport()

    async def _send_eof(self) -> None:
        if self._eof_sent or self._transport_closed:
            return
        self._eof_sent = True
        with anyio.move_on_after(self._close_timeout):
            await self._transport.send_eof()

    async def _close_transport(self) -> None:
        if self._transport_closed:
            return
        self._transport_closed = True
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._close_timeout):
                await self._transport.aclose()

    async def __aenter__(self) -> "Websocket":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        role = "client" if self._conn.client else "server"
        return f"<Websocket {role} {self._conn.state.name}>"

    # -- the opening handshake ---------------------------------------------------

    async def _client_handshake(
        self,
        host: str,
        target: str,
        subprotocols: Optional[List[str]],
        headers: Optional[Headers],
        open_timeout: Optional[float],
    ) -> AcceptConnection:
        conn = self._conn
        accept: Optional[AcceptConnection] = None
        try:
            with anyio.fail_after(open_timeout):
                await self._transport.send(
                    conn.initiate(host, target, subprotocols=subprotocols or (), extra_headers=headers)
                )
                while accept is None:
                    data = await self._transport.receive()
                    if not data:
                        conn.receive_eof()  # raises HandshakeRejected for a bodied error
                        raise HandshakeError("connection closed during the opening handshake")
                    for event in conn.receive_data(data):
                        if isinstance(event, AcceptConnection):
                            accept = event
                        elif isinstance(event, (TextMessage, BytesMessage)):
                            self._events.append(event)
                # Frames right behind the 101 may include pings or a close.
                reply = conn.data_to_send()
                if reply:
                    await self._transport.send(reply)
        except TimeoutError:
            await self._close_transport()
            raise HandshakeTimeout("opening handshake timed out") from None
        except TRANSPORT_ERRORS as exc:
            await self._close_transport()
            if isinstance(exc, HandshakeError):
                raise
            raise HandshakeError(f"connection lost during the opening handshake: {exc!r}") from exc
        except BaseException:
            await self._close_transport()
            raise
        return accept

    async def _server_receive_request(self, open_timeout: Optional[float]) -> Request:
        conn = self._conn
        try:
            with anyio.fail_after(open_timeout):
                while True:
                    data = await self._transport.receive()
                    if not data:
                        raise HandshakeError("connection closed before the opening handshake finished")
                    try:
                        events = conn.receive_data(data)
                    except HandshakeError:
                        # Tell the client what was wrong (HTTP 400/426), then hang up.
                        error = conn.data_to_send()
                        if error:
                            try:
                                await self._transport.send(error)
                            except TRANSPORT_ERRORS:
                                pass
                        raise
                    for event in events:
                        if isinstance(event, Request):
                            return event
        except TimeoutError:
            await self._close_transport()
            raise HandshakeTimeout("opening handshake timed out") from None
        except BaseException:
            await self._close_transport()
            raise

    async def _server_accept(self, subprotocol: Optional[str], headers: Optional[Headers]) -> None:
        try:
            data = self._conn.accept(subprotocol, headers)
        except ValueError:
            # A choice the request does not allow (a subprotocol it did not
            # offer): answer 500 and hang up, not leave the client waiting.
            await self._server_reject(500, None, b"")
            raise
        # Frames the client sent right behind its request: their messages are
        # queued, and what they call for (pongs, a close reply) follows the 101.
        self._queue_pipelined()
        data += self._conn.data_to_send()
        try:
            await self._transport.send(data)
        except BaseException:
            await self._close_transport()
            raise

    def _queue_pipelined(self) -> None:
        for event in self._conn.receive_data(b""):
            if isinstance(event, (TextMessage, BytesMessage)):
                self._events.append(event)

    async def _server_reject(self, status: int, headers: Optional[Headers], body: Union[bytes, str]) -> None:
        try:
            data = self._conn.reject(status, headers, body)
        except ValueError:
            # A refusal we cannot send (say, a status that is no error):
            # the client still gets an answer, then the caller the error.
            await self._server_reject(500, None, b"")
            raise
        try:
            await self._transport.send(data)
        except TRANSPORT_ERRORS:
            pass
        finally:
            await self._close_transport()
