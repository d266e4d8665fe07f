"""Parsing ``ws://`` and ``wss://`` URLs (RFC 6455 section 3)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


@dataclass(frozen=True)
class WebSocketURI:
    """The parts of a WebSocket URL a client needs to connect."""

    secure: bool
    host: str
    port: int
    resource: str
    username: str | None = None
    password: str | None = None

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.secure else 80):
            host = f"{host}:{self.port}"
        return host

    @property
    def authorization(self) -> str | None:
        """A Basic ``Authorization`` header value for credentials in the URL."""
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def split_url(url: object, what: str) -> tuple[SplitResult, int | None]:
    """``url`` split, and its port; :class:`InvalidURI` naming ``what`` if it is not a valid URL.

    ``urlsplit`` only finds a bad port when it is asked for it.
    """
    if not isinstance(url, str):
        raise InvalidURI(f"expected a {what} string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError as exc:
        raise InvalidURI(f"{url!r} is not a valid {what}: {exc}") from None


def parse_uri(uri: str) -> WebSocketURI:
    """Split a WebSocket URL, refusing anything a client could not connect to.

    Raises :class:`~asyncwebsockets.exceptions.InvalidURI` (a ValueError).
    """
    parts, port = split_url(uri, "URL")
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a ws:// or wss:// URL")
    if parts.fragment or uri.endswith("#"):
        # RFC 6455 section 3: fragment identifiers are meaningless here.
        raise InvalidURI(f"{uri!r} has a fragment, which WebSocket URLs may not have")
    host = parts.hostname
    if not host:
        raise InvalidURI(f"{uri!r} has no host")
    if any(c in host for c in " \t\r\n/\\"):
        raise InvalidURI(f"{uri!r} has an invalid host")
    secure = scheme == "wss"
    if port is None:
        port = 443 if secure else 80
    elif port == 0:
        raise InvalidURI(f"{uri!r} has port 0")
    # Percent-encode what may not appear raw in a request target, leaving
    # existing escapes and the query alone.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if not path.startswith("/"):
        path = "/" + path
    resource = path
    if parts.query:
        resource += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return WebSocketURI(secure, host, port, resource, username, password)
