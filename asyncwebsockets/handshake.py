"""The opening handshake's I/O: over a transport, for a connection, before it is open.

The HTTP exchange itself is :class:`~asyncwebsockets.connection.Connection`'s
(sans I/O); these functions read and write it, bound it in time and close
the transport when it fails, so that neither side leaks a socket.  Frames
that arrive right behind the handshake are returned as events, for the
:class:`~asyncwebsockets.websocket.Websocket` to queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import h11
from wsproto.events import AcceptConnection, BytesMessage, Event, Request, TextMessage

from .connection import Connection
from .exceptions import HandshakeError, HandshakeTimeout
from .hooks import HTTPRequest, Response
from .http import Headers
from .transports.base import TRANSPORT_ERRORS, Transport

__all__ = ["client_handshake", "receive_head", "parse_head", "respond", "receive_request", "accept", "reject"]


async def client_handshake(
    transport: Transport,
    conn: Connection,
    host: str,
    target: str,
    subprotocols: Sequence[str],
    headers: Headers | None,
    open_timeout: float | None,
) -> list[Event]:
    """Send the upgrade request and read the response; returns the frames' events behind it."""
    accept: AcceptConnection | None = None
    events: list[Event] = []
    try:
        with anyio.fail_after(open_timeout):
            await transport.send(conn.initiate(host, target, subprotocols=subprotocols, extra_headers=headers))
            while accept is None:
                data = await transport.receive()
                if not data:
                    conn.receive_eof()  # raises HandshakeRejected for a bodied error
                    raise HandshakeError("connection closed during the opening handshake")
                for event in conn.receive_data(data):
                    if isinstance(event, AcceptConnection):
                        accept = event
                    elif isinstance(event, (TextMessage, BytesMessage)):
                        events.append(event)
            # Frames right behind the 101 may call for pongs or a close
            # reply: they go out before the application can answer anything.
            reply = conn.data_to_send()
            if reply:
                await transport.send(reply)
    except TimeoutError:
        await _close(transport)
        raise HandshakeTimeout("opening handshake timed out") from None
    except TRANSPORT_ERRORS as exc:
        await _close(transport)
        if isinstance(exc, HandshakeError):
            raise
        raise HandshakeError(f"connection lost during the opening handshake: {exc!r}") from exc
    except BaseException:
        await _close(transport)
        raise
    return events


#: Bytes of request head read before it is handed to the parser anyway
#: (which refuses what is too long).
MAX_HEAD = 16 * 1024


async def receive_head(transport: Transport, open_timeout: float | None) -> bytes:
    """Read up to the end of the request head (with whatever came with it), for the hooks to see."""
    buffer = b""
    async with _bounded(transport, open_timeout):
        while b"\r\n\r\n" not in buffer and len(buffer) < MAX_HEAD:
            data = await transport.receive()
            if not data:
                raise HandshakeError("connection closed before the opening handshake finished")
            buffer += data
    return buffer


def parse_head(head: bytes) -> HTTPRequest | None:
    """The request in ``head``, if it is one HTTP accepts (the handshake refuses it otherwise)."""
    parser = h11.Connection(h11.SERVER)
    try:
        parser.receive_data(head)
        event = parser.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request):
        return None
    return HTTPRequest(
        event.method.decode("ascii", "replace"),
        event.target.decode("ascii", "replace"),
        [(bytes(name), bytes(value)) for name, value in event.headers],
    )


async def respond(transport: Transport, response: Response, head: bool = False) -> None:
    """Send a hook's response (to a ``HEAD`` request if ``head``) instead of upgrading, then close."""
    try:
        await transport.send(response.to_bytes(head))
    except TRANSPORT_ERRORS:
        pass
    finally:
        await _close(transport)


async def receive_request(
    transport: Transport, conn: Connection, open_timeout: float | None, received: bytes = b""
) -> Request:
    """Read the client's upgrade request (after ``received``); a bad one is answered (HTTP 4xx) and raises."""
    async with _bounded(transport, open_timeout):
        while True:
            if received:
                data, received = received, b""
            else:
                data = await transport.receive()
            if not data:
                raise HandshakeError("connection closed before the opening handshake finished")
            try:
                events = conn.receive_data(data)
            except HandshakeError:
                # Tell the client what was wrong (HTTP 400/426), then hang up.
                error = conn.data_to_send()
                if error:
                    try:
                        await transport.send(error)
                    except TRANSPORT_ERRORS:
                        pass
                raise
            for event in events:
                if isinstance(event, Request):
                    return event
    raise AssertionError("unreachable")  # pragma: no cover - for type checkers


async def accept(
    transport: Transport, conn: Connection, subprotocol: str | None, headers: Headers | None
) -> list[Event]:
    """Send the 101 response; returns the events of frames the client pipelined behind its request."""
    try:
        data = conn.accept(subprotocol, headers)
    except ValueError:
        # A choice the request does not allow (a subprotocol it did not
        # offer): answer 500 and hang up, not leave the client waiting.
        await reject(transport, conn, 500, None, b"")
        raise
    # Their messages are queued; what they call for (pongs, a close reply)
    # follows the 101 in the same write.
    events: list[Event] = [e for e in conn.receive_data(b"") if isinstance(e, (TextMessage, BytesMessage))]
    data += conn.data_to_send()
    try:
        await transport.send(data)
    except BaseException:
        await _close(transport)
        raise
    return events


async def reject(
    transport: Transport, conn: Connection, status: int, headers: Headers | None, body: bytes | str
) -> None:
    """Refuse the request with an HTTP response, then close the transport."""
    try:
        data = conn.reject(status, headers, body)
    except ValueError:
        # A refusal we cannot send (say, a status that is no error):
        # the client still gets an answer, then the caller the error.
        await reject(transport, conn, 500, None, b"")
        raise
    try:
        await transport.send(data)
    except TRANSPORT_ERRORS:
        pass
    finally:
        await _close(transport)


@asynccontextmanager
async def _bounded(transport: Transport, open_timeout: float | None) -> AsyncIterator[None]:
    """Bound a server's reads in time; on any failure, close the transport before the error goes on."""
    try:
        with anyio.fail_after(open_timeout):
            yield
    except TimeoutError:
        await _close(transport)
        raise HandshakeTimeout("opening handshake timed out") from None
    except BaseException:
        await _close(transport)
        raise


async def _close(transport: Transport) -> None:
    with anyio.CancelScope(shield=True):
        await transport.aclose()
