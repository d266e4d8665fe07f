"""The HTTP side of the opening handshake: headers, request lines, error responses.

wsproto (over h11) parses and writes the handshake itself; these are the
pieces around it that it leaves to us.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus

from wsproto.events import Event, Request
from wsproto.extensions import Extension

from .permessage_deflate import EXTENSION_NAME, PerMessageDeflate, build_offer

__all__ = [
    "Headers",
    "header_list",
    "header_text",
    "subprotocol_list",
    "DeflateOffer",
    "HandshakeDone",
    "DONE",
    "request_line_problem",
    "REQUEST_LINE_LIMIT",
    "http_response",
    "may_have_body",
    "reason_phrase",
]

HeaderName = bytes | str

#: Headers as callers give them: a mapping, or an iterable of (name, value)
#: pairs (which allows repeated names); names and values ``str`` or ``bytes``.
#: A mapping's key type is invariant, so each kind of key is named: a
#: ``dict[str, str]`` is not a ``Mapping[str | bytes, ...]``.
Headers = (
    Mapping[str, HeaderName]
    | Mapping[bytes, HeaderName]
    | Mapping[HeaderName, HeaderName]
    | Iterable[tuple[HeaderName, HeaderName]]
)


def header_list(headers: Headers | None) -> list[tuple[bytes, bytes]]:
    """``headers`` as (name, value) byte pairs; TypeError for anything else.

    A dict is the most common way to pass headers, and iterating one gives
    its keys: unpacking those as pairs fails for most keys and silently
    splits two-character ones, so mappings are told apart first.
    """
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)):
        raise TypeError(f"headers are a mapping or (name, value) pairs, not {type(headers).__name__}")
    pairs: Iterable[tuple[HeaderName, HeaderName]]
    if isinstance(headers, Mapping):
        pairs = headers.items()
    else:
        try:
            pairs = iter(headers)
        except TypeError:
            raise TypeError(f"headers are a mapping or (name, value) pairs, not {type(headers).__name__}") from None
    out = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"a header is a (name, value) pair of str or bytes, not {pair!r}")
        name, value = pair
        out.append((_header_bytes(name, "ascii"), _header_bytes(value, "latin-1")))
    return out


def _header_bytes(item: object, encoding: str) -> bytes:
    if isinstance(item, str):
        data = item.encode(encoding)
    elif isinstance(item, (bytes, bytearray)):
        data = bytes(item)
    else:
        raise TypeError(f"header names and values are str or bytes, not {type(item).__name__}")
    if _FORBIDDEN.search(data):
        # A line break would end the header, and could start another one.
        raise ValueError(f"header names and values may not contain CR, LF or NUL: {item!r}")
    return data


_FORBIDDEN = re.compile(rb"[\r\n\0]")


def header_text(name: str, value: object) -> bytes:
    """A header value given as its own argument (``origin``, ``user_agent_header``): a ``str``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} is a str, not {type(value).__name__}")
    return _header_bytes(value, "latin-1")


def subprotocol_list(value: object) -> list[str] | None:
    """``subprotocols`` as given: None, or a sequence of names.

    A lone string is refused rather than taken for the sequence of its
    characters (offering "c", "h", "a", "t" for "chat").
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"subprotocols is a list of str, not {type(value).__name__}")
    names = list(value)
    for name in names:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise TypeError(f"subprotocols is a list of str, each an HTTP token, not containing {name!r}")
    return names


#: RFC 7230 section 3.2.6: what a subprotocol name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class DeflateOffer(Extension):
    """Our permessage-deflate offer, as wsproto's client handshake wants extensions.

    wsproto refuses a response that accepts an extension the request did
    not carry as an :class:`~wsproto.extensions.Extension`; this one only
    writes the offer and keeps what the server answered, which the
    connection then checks (:func:`~.permessage_deflate.parse_response`).
    """

    name = EXTENSION_NAME

    def __init__(self, settings: PerMessageDeflate) -> None:
        self.settings = settings
        self.responses: list[str] = []

    def offer(self) -> str:
        # wsproto writes the name itself, then "; " and what we return.
        return build_offer(self.settings).partition("; ")[2]

    def finalize(self, offer: str) -> None:
        self.responses.append(offer)


class HandshakeDone:
    """Stands in for the handshake machinery once the connection is open."""

    def send(self, event: Event) -> bytes:
        raise RuntimeError("the opening handshake is over")

    def receive_data(self, data: bytes | None) -> None:
        raise RuntimeError("the opening handshake is over")

    def events(self) -> Iterator[Event]:
        return iter(())


DONE = HandshakeDone()

#: The start of a request line, as far as the handshake cares (RFC 6455 4.1:
#: "the method of the request MUST be GET, and the HTTP version MUST be at
#: least 1.1").
_REQUEST_LINE = re.compile(rb"([^ ]+) [^ ]+ HTTP/(\d+)\.(\d+)")

#: How much of the request we look at for its first line; longer lines are
#: left to the HTTP parser to refuse.
REQUEST_LINE_LIMIT = 8192


def request_line_problem(head: bytes) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
    """Status, message and headers refusing a request line, or None if it may pass.

    wsproto answers every bad request with 400; a client sent the wrong
    method deserves 405 (with ``Allow``), and an HTTP/1.0 request, which
    wsproto would accept, has to be refused.
    """
    match = _REQUEST_LINE.match(head)
    if match is None:
        return None  # not a request line the HTTP parser accepts either
    method, major, minor = match.group(1), int(match.group(2)), int(match.group(3))
    if method != b"GET":
        return 405, "the method of a WebSocket handshake must be GET", [(b"Allow", b"GET")]
    if (major, minor) < (1, 1):
        return 400, "a WebSocket handshake needs HTTP/1.1 or later", []
    return None


def request_problem(request: Request) -> str | None:
    """What wsproto leaves unchecked in a request (RFC 6455 section 4.2.1), or None."""
    for name, value in request.extra_headers:
        if name == b"sec-websocket-key":
            try:
                if len(base64.b64decode(value, validate=True)) == 16:
                    return None
            except binascii.Error:
                pass
            return "Sec-WebSocket-Key is not 16 bytes in base64"
    return "missing Sec-WebSocket-Key"


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Error"


def may_have_body(status: int) -> bool:
    """Whether a response with this status has a body, and so a length (RFC 9110 sections 6.4.1 and 8.6)."""
    return status >= 200 and status not in (204, 304)


def http_response(
    status: int, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b"", head: bool = False
) -> bytes:
    """An HTTP response after which the connection closes.

    Adds ``Content-Type``, ``Content-Length`` and ``Connection`` where
    ``headers`` lack them; one answer to a hook's response and to a bad
    request alike.  To a ``HEAD`` request (``head``) the body is left out
    and its length kept (RFC 9110 section 9.3.2).
    """
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    if b"content-type" not in names and body:
        headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
    if b"content-length" not in names and may_have_body(status):
        headers.append((b"Content-Length", b"%d" % len(body)))
    if b"connection" not in names:
        headers.append((b"Connection", b"close"))
    lines = [b"HTTP/1.1 %d %s" % (status, reason_phrase(status))]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head else body)
