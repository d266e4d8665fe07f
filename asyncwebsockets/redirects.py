"""Following a server's redirect of the opening handshake (301, 302, 303, 307, 308).

Servers move endpoints, and load balancers send ``ws://`` clients to
``wss://``: a client that gives up on a 3xx leaves its user to repeat the
request by hand, usually without the checks below.  A redirect is refused,
rather than followed, when it would take the connection from TLS to
plain text, go round in a loop, or go on for ever; credentials are only
sent on to the host they were given for.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urljoin, urlsplit, urlunsplit

from .exceptions import HandshakeRejected, InvalidURI, RedirectError
from .uri import WebSocketURI, parse_uri

__all__ = ["REDIRECT_STATUSES", "MAX_REDIRECTS", "Redirects", "strip_credentials"]

#: The statuses that send the handshake elsewhere.  (303 would change a
#: POST into a GET; the handshake is a GET already.)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: How many redirects a client follows by default, as browsers and websockets do.
MAX_REDIRECTS = 10

#: Request headers that carry credentials, dropped when a redirect changes host.
CREDENTIAL_HEADERS = (b"authorization", b"cookie", b"proxy-authorization")

_SCHEMES = {"http": "ws", "ws": "ws", "https": "wss", "wss": "wss"}


class Redirects:
    """The redirects of one opening: where they lead, and whether to go on."""

    def __init__(self, first: WebSocketURI, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"max_redirects is an int >= 0, not {limit!r}")
        self.limit = limit
        self.followed = 0
        self._seen: set[tuple[bool, str, int, str]] = {_key(first)}

    def follow(self, current: WebSocketURI, rejected: HandshakeRejected) -> tuple[WebSocketURI, bool]:
        """Where ``rejected`` (a 3xx answer to ``current``) sends the client, and whether the host changed.

        Raises :class:`~asyncwebsockets.exceptions.RedirectError` for a
        redirect that must not be followed.  On the same host, credentials
        from the first URL are kept unless the new URL has its own.
        """

        def refuse(why: str) -> RedirectError:
            return RedirectError(why, rejected.status_code, rejected.headers, rejected.body)

        if self.followed >= self.limit:
            raise refuse(f"too many redirects (more than {self.limit}); the last was HTTP {rejected.status_code}")
        location = _location(rejected)
        if not location:
            raise refuse(f"HTTP {rejected.status_code} redirect without a Location header")
        url = resolve(current, location)
        if url is None:
            raise refuse(f"HTTP {rejected.status_code} redirect to {location!r}, not an http(s):// or ws(s):// URL")
        try:
            target = parse_uri(url)
        except InvalidURI as exc:
            raise refuse(f"HTTP {rejected.status_code} redirect to an invalid URL: {exc}") from exc
        if current.secure and not target.secure:
            raise refuse(f"refusing to follow a redirect from wss:// to {location!r}, which is not encrypted")
        key = _key(target)
        if key in self._seen:
            raise refuse(f"redirect loop: HTTP {rejected.status_code} back to {location!r}")
        self._seen.add(key)
        self.followed += 1
        same_host = _same_host(current, target)
        if same_host and target.username is None and current.username is not None:
            target = replace(target, username=current.username, password=current.password)
        return target, not same_host


def resolve(current: WebSocketURI, location: str) -> str | None:
    """``location`` made absolute against ``current``, as a ws(s):// URL; None for another scheme.

    Servers write ``Location`` for HTTP clients (``https://host/path`` or a
    relative path), so http and https map to ws and wss; the fragment goes,
    since WebSocket URLs may not have one.
    """
    base = f"{'https' if current.secure else 'http'}://{current.host_header}{current.resource}"
    try:
        parts = urlsplit(urljoin(base, location.strip()))
    except ValueError:
        return None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        return None
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def strip_credentials(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` without those that carry credentials, for a request to another host."""
    return [(name, value) for name, value in headers if name.lower() not in CREDENTIAL_HEADERS]


def _location(rejected: HandshakeRejected) -> str | None:
    for name, value in rejected.headers:
        if name.lower() == b"location":
            return value.decode("latin-1").strip()
    return None


def _key(uri: WebSocketURI) -> tuple[bool, str, int, str]:
    return uri.secure, uri.host.lower(), uri.port, uri.resource


def _same_host(old: WebSocketURI, new: WebSocketURI) -> bool:
    """Whether ``new`` is the server ``old`` named, or its TLS side on the default ports."""
    if old.host.lower() != new.host.lower():
        return False
    if old.secure == new.secure:
        return old.port == new.port
    return (old.port, new.port) == (80, 443) and new.secure
