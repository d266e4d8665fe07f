"""The exceptions asyncwebsockets raises.

Everything that reports a failed or closed connection derives from the
built-in :class:`ConnectionError`, which is what the 0.x releases raised, so
``except ConnectionError`` clauses written for them keep catching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "WebSocketError",
    "InvalidURI",
    "HandshakeError",
    "HandshakeRejected",
    "HandshakeTimeout",
    "ProxyError",
    "RedirectError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
]


class WebSocketError(ConnectionError):
    """Base class of every connection-level error raised by this library."""


class InvalidURI(ValueError):
    """A URL given to a client function is not a usable ``ws://``/``wss://`` URL.

    Raised before any network I/O happens.
    """


class HandshakeError(WebSocketError):
    """The opening handshake did not produce a WebSocket connection."""

    def __str__(self) -> str:
        # Raised with (message, HTTP status) by a server refusing a bad
        # request; OSError would show that as "[Errno message] status".
        if len(self.args) == 2 and isinstance(self.args[1], int):
            return f"{self.args[0]} (answered HTTP {self.args[1]})"
        return super().__str__()


class HandshakeRejected(HandshakeError):
    """The server answered the opening handshake with something other than 101.

    ``status_code``, ``headers`` and ``body`` hold the HTTP response, so a
    client can tell a 403 from a 404 and read the server's explanation.
    """

    def __init__(
        self,
        status_code: int,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
        event: Any = None,
    ) -> None:
        super().__init__(f"handshake rejected with HTTP {status_code}")
        self.status_code = status_code
        self.headers = list(headers)
        self.body = body
        #: The wsproto event the response was read as (None when it came another way).
        self.event = event


class HandshakeTimeout(HandshakeError, TimeoutError):
    """The peer did not complete the opening handshake in time."""


class ProxyError(HandshakeError):
    """The proxy did not open a tunnel to the server.

    ``status_code`` is the HTTP status an HTTP proxy refused ``CONNECT``
    with (407 for missing or wrong credentials, 403, 502...), so a client
    can tell "log in" from "try later"; it is None when there was no HTTP
    answer: the proxy could not be reached, closed the connection, spoke
    something else, or is a SOCKS proxy that refused.  ``headers`` holds a
    refusal's response headers (``Proxy-Authenticate`` among them).
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = list(headers)


class RedirectError(HandshakeRejected):
    """The server redirected the handshake somewhere the client will not follow.

    A redirect loop, more redirects than ``max_redirects``, a ``Location``
    that is missing or not an ``http(s)://`` or ``ws(s)://`` URL, and a
    redirect from ``wss://`` down to ``ws://`` all end here.  It is a
    :class:`HandshakeRejected`, carrying the redirect response, because
    that is what a 3xx answer raised before redirects were followed.
    """

    def __init__(
        self,
        message: str,
        status_code: int,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(status_code, headers, body)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConnectionClosed(WebSocketError):
    """An operation needed an open connection, but it is closed.

    ``code`` and ``reason`` are the close code and reason of the connection
    (1005 when the peer's close frame carried no code, 1006 when the
    connection was lost without a close handshake).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed with 1000 or 1001."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code, or lost."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455; ``code`` is the close code we answer with.

    The frame codec raises it (1002 protocol error, 1007 invalid UTF-8,
    1009 message too big); ``events`` holds the events decoded from the same
    input before the offending frame, which still belong to the application.
    """

    def __init__(self, code: int, reason: str, events: list[Any] | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.events: list[Any] = events if events is not None else []
