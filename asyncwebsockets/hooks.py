"""Answering HTTP requests on a WebSocket server: health checks, redirects, authentication.

A server's ``process_request`` hook sees every request before the
WebSocket handshake, plain HTTP ones included, and may answer it with a
:class:`Response` instead of upgrading: a load balancer's health check, a
redirect, a 401 asking for credentials.  ``process_response`` may adjust
(or replace) the 101 response of a request that is accepted.  The two
helpers here build ``process_request`` hooks for what servers need most
often: an Origin allow-list and HTTP Basic authentication.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .http import Headers, header_list, http_response, may_have_body

__all__ = [
    "HTTPRequest",
    "Response",
    "ProcessRequest",
    "ProcessResponse",
    "check_origin",
    "basic_auth",
    "run_hooks",
]


@dataclass(frozen=True)
class HTTPRequest:
    """An HTTP request as a server received it, before any WebSocket handshake.

    ``headers`` keeps the client's order and repeated names, names in lower
    case; :meth:`header` finds one.
    """

    method: str
    target: str
    headers: list[tuple[bytes, bytes]]

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.partition("?")[0]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None; the first one if repeated."""
        wanted = name.lower().encode("ascii")
        for key, value in self.headers:
            if key == wanted:
                return value.decode("latin-1")
        return None

    @property
    def is_upgrade(self) -> bool:
        """Whether this asks for a WebSocket (``Upgrade: websocket``)."""
        upgrade = self.header("upgrade") or ""
        return "websocket" in upgrade.lower()


@dataclass
class Response:
    """An HTTP response for a hook to send in place of upgrading, or the 101 to adjust.

    ``headers`` may be a mapping or (name, value) pairs; ``body`` is sent
    with a ``Content-Length``.  Statuses that have no body (1xx, 204 and
    304) take none; the answer to a ``HEAD`` request has its
    ``Content-Length`` but not the body itself (RFC 9110 sections 6.4.1 and 9.3.2).
    """

    status_code: int = 200
    headers: Headers = field(default_factory=list)
    body: bytes | str = b""

    def __post_init__(self) -> None:
        if not isinstance(self.status_code, int) or not 100 <= self.status_code <= 599:
            raise ValueError(f"an HTTP status is a number from 100 to 599, not {self.status_code!r}")
        if not isinstance(self.body, (bytes, str)):
            raise TypeError(f"a response body is bytes or str, not {type(self.body).__name__}")
        if self.body and not may_have_body(self.status_code):
            raise ValueError(f"an HTTP {self.status_code} response has no body")
        header_list(self.headers)  # a TypeError now, not when it is sent

    def add_header(self, name: str | bytes, value: str | bytes) -> None:
        """Add a header, after those already there (a ``process_response`` hook's usual change).

        ``headers`` may be a mapping, which cannot hold a name twice: the
        headers become (name, value) byte pairs, in the same order.
        """
        self.headers = [*header_list(self.headers), *header_list([(name, value)])]

    @classmethod
    def redirect(cls, location: str, status_code: int = 302) -> Response:
        """A redirect to ``location`` (301, 302, 303, 307 or 308)."""
        if status_code not in (301, 302, 303, 307, 308):
            raise ValueError(f"a redirect is 301, 302, 303, 307 or 308, not {status_code}")
        return cls(status_code, [("Location", location)])

    def to_bytes(self, head: bool = False) -> bytes:
        """The response on the wire, to a ``HEAD`` request if ``head``; the connection closes after it."""
        body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        return http_response(self.status_code, header_list(self.headers), body, head)


#: ``process_request``: sync or async, None to go on with the handshake.
ProcessRequest = Callable[[HTTPRequest], Response | None | Awaitable[Response | None]]
#: ``process_response``: gets the request and the 101 about to be sent; may
#: change its headers, or return another response to send instead.
ProcessResponse = Callable[[HTTPRequest, Response], Response | None | Awaitable[Response | None]]


async def run_hooks(
    hooks: None | Callable[..., object] | Sequence[Callable[..., object]], *args: object
) -> Response | None:
    """Call each hook in turn with ``args``; the first response any returns, or None."""
    if hooks is None:
        return None
    for hook in hooks if isinstance(hooks, (list, tuple)) else (hooks,):
        result = hook(*args)
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            if not isinstance(result, Response):
                raise TypeError(f"a hook returns a Response or None, not {type(result).__name__}")
            return result
    return None


def check_origin(allowed: Iterable[str | None]) -> ProcessRequest:
    """A ``process_request`` hook refusing WebSocket requests from other origins with 403.

    ``allowed`` lists origins such as ``"https://example.com"``; include
    None to let through clients that send no ``Origin`` (programs rather
    than browsers).  Browsers always send it, and it is what keeps a page
    on another site from using its visitors' cookies on your server.
    """
    origins = set(allowed)

    def hook(request: HTTPRequest) -> Response | None:
        if not request.is_upgrade:
            return None
        if request.header("origin") in origins:
            return None
        return Response(403, body="origin not allowed\n")

    return hook


def basic_auth(
    realm: str,
    credentials: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    check: Callable[[str, str], bool | Awaitable[bool]] | None = None,
) -> ProcessRequest:
    """A ``process_request`` hook asking for HTTP Basic credentials (RFC 7617).

    Give the accepted ``credentials`` (user to password), or a ``check``
    function (sync or async) deciding on a user and password.  A request
    without valid credentials gets 401 with a ``WWW-Authenticate``
    challenge.  Passwords are compared in constant time, so that timing
    does not tell how much of a guess was right.
    """
    if (credentials is None) == (check is None):
        raise TypeError("basic_auth() needs either credentials or check, not both")
    if '"' in realm or "\\" in realm:
        raise ValueError("the realm may not contain quotes or backslashes")
    table = dict(credentials.items() if isinstance(credentials, Mapping) else credentials or ())
    challenge = [("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')]

    async def hook(request: HTTPRequest) -> Response | None:
        user_password = _basic_credentials(request.header("authorization"))
        if user_password is not None:
            user, password = user_password
            if check is not None:
                verdict = check(user, password)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if verdict:
                    return None
            else:
                expected = table.get(user)
                # Compared even for an unknown user, so that timing does
                # not tell which users exist.
                same = hmac.compare_digest(password.encode(), (expected or "\0" + password).encode())
                if expected is not None and same:
                    return None
        return Response(401, challenge, "authentication required\n")

    return hook


def _basic_credentials(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None
