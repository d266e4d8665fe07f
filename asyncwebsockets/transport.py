"""The byte-moving layer under a :class:`~asyncwebsockets.websocket.Websocket`.

A transport does three things: receive some bytes, send bytes, close.  The
WebSocket logic above it never touches a socket, so a faster transport for
one event loop can replace the generic one without changing the public API.

:class:`StreamTransport` works over any anyio byte stream (TCP, TLS, Unix
sockets, memory streams), and also accepts trio's native streams, which the
0.x releases took.
"""

from __future__ import annotations

import socket
from typing import Any, Optional, Protocol, Tuple, Union

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSAttribute

__all__ = ["Transport", "StreamTransport", "RECEIVE_SIZE", "as_transport"]

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


class Transport(Protocol):
    """What a Websocket needs from the connection below it."""

    async def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next bytes from the peer; ``b""`` once the peer closed or the connection broke.

        With a ``timeout``, None when nothing arrived within that many seconds.
        """

    async def send(self, data: bytes, more: bool = False) -> None:
        """Write all of ``data``, waiting while the peer is not reading.

        ``more=True`` says more frames follow at once, so a transport may
        hold ``data`` back briefly to write them together; it must still
        go out without further calls (e.g. once the event loop runs).
        Raises one of :data:`TRANSPORT_ERRORS` when the connection is gone.
        """

    async def send_eof(self) -> None:
        """Half-close: no more sending, but keep receiving (a no-op where impossible, e.g. TLS)."""

    async def aclose(self) -> None:
        """Close the connection; never raises for a connection already gone."""

    def extra(self, attribute: Any, default: Any = None) -> Any:
        """anyio typed attributes (peer address, TLS details, ...)."""

    def abort(self) -> None:
        """Drop the connection now, without waiting for anything."""

    @property
    def send_is_atomic(self) -> bool:
        """Whether a cancelled :meth:`send` still delivers its bytes whole.

        When it does not, a cancelled send may have written part of a frame,
        and the connection has to be dropped rather than continue garbled.
        """


class _TrioStreamAdapter:
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
            socket = getattr(self._stream, "socket", None)
            if socket is not None:
                try:
                    return socket.getpeername()
                except OSError:
                    pass
        return default


class StreamTransport:
    """A transport over an anyio byte stream."""

    def __init__(self, stream: Union[ByteStream, Any]) -> None:
        self._stream = stream
        self._closed = False

    @property
    def stream(self) -> Union[ByteStream, Any]:
        return self._stream

    @property
    def send_is_atomic(self) -> bool:
        # Nothing tells us how much of an interrupted send_all went out.
        return False

    async def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        try:
            if timeout is None:
                return await self._stream.receive(RECEIVE_SIZE)
            with anyio.move_on_after(timeout):
                return await self._stream.receive(RECEIVE_SIZE)
            return None
        except TRANSPORT_ERRORS:
            return b""

    async def send(self, data: bytes, more: bool = False) -> None:
        await self._stream.send(data)

    async def send_eof(self) -> None:
        send_eof = getattr(self._stream, "send_eof", None)
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if send_eof is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            # Only TCP resets a connection that closes with unread input;
            # anyio's asyncio Unix streams also misbehave on a half-close.
            return
        try:
            await send_eof()
        except (NotImplementedError, *TRANSPORT_ERRORS):
            pass

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._stream.aclose()
        except TRANSPORT_ERRORS:
            pass

    def extra(self, attribute: Any, default: Any = None) -> Any:
        try:
            return self._stream.extra(attribute, default)
        except OSError:
            # A closed socket has no addresses left to report.
            return default

    def abort(self) -> None:
        # anyio has no synchronous abort; a forced shutdown is the next
        # best (aclose() still has to release the stream).
        sock = self._stream.extra(SocketAttribute.raw_socket, None)
        if sock is not None:
            try:
                sock.shutdown(2)
            except OSError:
                pass


def as_transport(stream: Any) -> Transport:
    """Wrap what a caller handed us: an anyio stream, a trio stream, or a transport."""
    if hasattr(stream, "send_is_atomic"):
        return stream  # type: ignore[no-any-return]
    if not hasattr(stream, "receive") and hasattr(stream, "receive_some"):
        stream = _TrioStreamAdapter(stream)
    from . import trio_transport

    if trio_transport.usable_for(stream):
        return trio_transport.TrioSocketTransport(stream)
    return StreamTransport(stream)


def peer_address(transport: Transport) -> Optional[Tuple[Any, ...]]:
    """The remote address of a socket-based transport, else None."""
    address = transport.extra(SocketAttribute.remote_address, None)
    return address if isinstance(address, tuple) else None


def tls_in_use(transport: Transport) -> bool:
    return transport.extra(TLSAttribute.ssl_object, None) is not None
