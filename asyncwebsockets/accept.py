"""Accepting one connection on a server: HTTP hooks, the filter, and the handshake.

Everything a server decides about a request happens here, in order:
``process_request`` may answer any request (plain HTTP included) without
upgrading; a valid upgrade request then goes to the ``filter``, which
accepts (with a subprotocol and headers) or refuses it; ``process_response``
may adjust the 101 response, or replace it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wsproto.events import AcceptConnection, RejectConnection, Request

from . import handshake
from .connection import Connection, ConnectionType
from .exceptions import HandshakeRejected
from .hooks import HTTPRequest, ProcessRequest, ProcessResponse, Response, run_hooks
from .http import Headers, header_list, subprotocol_list
from .options import ConnectionOptions, Settings, settings_from
from .transports import Transport
from .version import __version__
from .websocket import Websocket

__all__ = [
    "Reject",
    "Filter",
    "FilterResult",
    "ServerConnectionOptions",
    "ServerOptions",
    "accept_connection",
    "SERVER_HEADER",
]

logger = logging.getLogger("asyncwebsockets.server")

#: The ``Server`` header a server sends unless told otherwise.
SERVER_HEADER = f"Python/{sys.version_info[0]}.{sys.version_info[1]} asyncwebsockets/{__version__}"


@dataclass(frozen=True)
class Reject:
    """What a ``filter`` returns to refuse a request with a full HTTP response.

    ``status_code`` is a 4xx or 5xx error, or a 3xx redirect (with a
    ``Location`` header).
    """

    status_code: int = 403
    headers: Headers = field(default_factory=list)
    body: bytes | str = b""

    def __post_init__(self) -> None:
        if not 300 <= self.status_code <= 599:
            raise ValueError(f"a rejection needs a 3xx, 4xx or 5xx status, not {self.status_code}")


FilterResult = bool | str | None | AcceptConnection | RejectConnection | Reject
Filter = Callable[[Request], Awaitable[FilterResult]]


class ServerConnectionOptions(ConnectionOptions, total=False):
    """What servers take besides the :class:`~asyncwebsockets.options.ConnectionOptions`.

    ``subprotocols``
        Subprotocols supported: the client's first offer among them is
        chosen (None: the client's first offer, whatever it is).
    ``extra_headers``
        Headers added to every 101 response.
    ``process_request``, ``process_response``
        Hooks (or lists of them) that may answer a request without
        upgrading, or adjust the 101 response (:mod:`asyncwebsockets.hooks`).
    ``server_header``
        The ``Server`` header of every response; None sends none.
    """

    subprotocols: Sequence[str] | None
    extra_headers: Headers | None
    process_request: ProcessRequest | Sequence[ProcessRequest] | None
    process_response: ProcessResponse | Sequence[ProcessResponse] | None
    server_header: str | None


_SERVER_ONLY = ("subprotocols", "extra_headers", "process_request", "process_response", "server_header")


@dataclass(frozen=True)
class ServerOptions:
    """How a server accepts each connection; checked once, shared by all of them."""

    filter: Filter | None = None
    subprotocols: Sequence[str] | None = None
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    process_request: ProcessRequest | Sequence[ProcessRequest] | None = None
    process_response: ProcessResponse | Sequence[ProcessResponse] | None = None
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def make(cls, caller: str, filter: Filter | None, options: Mapping[str, Any]) -> ServerOptions:  # noqa: A002
        """Check ``options`` (as given to ``caller``) once, when a server starts, not at its first client."""
        connection = {name: value for name, value in options.items() if name not in _SERVER_ONLY}
        settings = settings_from(connection, caller)
        subprotocols = subprotocol_list(options.get("subprotocols"))
        process_request = options.get("process_request")
        process_response = options.get("process_response")
        server_header = options.get("server_header", SERVER_HEADER)
        headers = header_list(options.get("extra_headers"))
        if server_header is not None and not any(name.lower() == b"server" for name, _ in headers):
            headers.append((b"Server", server_header.encode("latin-1")))
        for name, hooks in (("process_request", process_request), ("process_response", process_response)):
            for hook in hooks if isinstance(hooks, (list, tuple)) else () if hooks is None else (hooks,):
                if not callable(hook):
                    raise TypeError(f"{name} is a callable or a sequence of them, not {hook!r}")
        return cls(filter, subprotocols, headers, process_request, process_response, settings)


async def accept_connection(transport: Transport, options: ServerOptions) -> Websocket:
    """The server's side of the opening handshake; the Websocket it makes is not serviced yet.

    Raises :class:`~asyncwebsockets.exceptions.HandshakeRejected` when a
    hook or the filter answered the request without upgrading, and
    :class:`~asyncwebsockets.exceptions.HandshakeError` for a bad request
    (answered with HTTP 4xx); an exception in a hook or the filter is
    answered with HTTP 500 and propagates.
    """
    settings = options.settings
    conn = Connection(
        ConnectionType.SERVER,
        max_message_size=settings.max_message_size,
        reassemble=settings.reassemble,
        compression=settings.compression,
    )
    transport.set_write_limits(*settings.write_marks)
    received = b""
    http_request = None
    if options.process_request is not None or options.process_response is not None:
        received = await handshake.receive_head(transport, settings.open_timeout)
        http_request = handshake.parse_head(received)
        if http_request is not None and options.process_request is not None:
            response = await _call_hooks(transport, http_request, options.process_request)
            if response is not None:
                await _answer(transport, options, http_request, response)
    request = await handshake.receive_request(transport, conn, settings.open_timeout, received)
    try:
        decision: FilterResult = True if options.filter is None else await options.filter(request)
    except BaseException:
        await handshake.reject(transport, conn, 500, None, b"")
        raise
    headers = list(options.extra_headers)
    if decision is True or isinstance(decision, str):
        subprotocol = decision if isinstance(decision, str) else _pick_subprotocol(request, options.subprotocols)
    elif isinstance(decision, AcceptConnection):
        subprotocol = decision.subprotocol
        headers += header_list(decision.extra_headers)
    else:
        if isinstance(decision, Reject):
            status, reject_headers, body = decision.status_code, header_list(decision.headers), decision.body
        elif isinstance(decision, RejectConnection):
            status, reject_headers, body = decision.status_code, header_list(decision.headers), b""
        else:
            status, reject_headers, body = 403, [], b""
        await handshake.reject(transport, conn, status, reject_headers, body)
        raise HandshakeRejected(status, [], body if isinstance(body, bytes) else body.encode())
    if options.process_response is not None and http_request is not None:
        switching = Response(101, headers)
        replaced = await _call_hooks(transport, http_request, options.process_response, switching)
        if replaced is not None and replaced.status_code != 101:
            await _answer(transport, options, http_request, replaced)
        headers = header_list((replaced or switching).headers)
    events = await handshake.accept(transport, conn, subprotocol, headers)
    return Websocket(transport, conn, settings, logger, events)


async def _call_hooks(transport: Transport, request: HTTPRequest, hooks: object, *more: object) -> Response | None:
    """Run ``hooks`` with the request (and ``more``); one that fails gets the client a 500."""
    try:
        return await run_hooks(hooks, request, *more)  # type: ignore[arg-type]
    except BaseException:
        await handshake.respond(transport, Response(500, body="internal server error\n"), request.method == "HEAD")
        raise


async def _answer(transport: Transport, options: ServerOptions, request: HTTPRequest, response: Response) -> None:
    """Send a hook's own response (with our Server header) and give up on upgrading."""
    headers = header_list(response.headers)
    if not any(name.lower() == b"server" for name, _ in headers):
        headers += [(name, value) for name, value in options.extra_headers if name.lower() == b"server"]
    body = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
    await handshake.respond(transport, Response(response.status_code, headers, body), request.method == "HEAD")
    raise HandshakeRejected(response.status_code, headers, body)


def _pick_subprotocol(request: Request, supported: Sequence[str] | None) -> str | None:
    offered = request.subprotocols
    if supported is None:
        return offered[0] if offered else None
    for name in offered:
        if name in supported:
            return name
    return None
