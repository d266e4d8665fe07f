"""Opening client connections: by URL, or over a stream you already have."""

from __future__ import annotations

import logging
import ssl as _ssl
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.tls import TLSStream

from .connection import Connection, ConnectionType
from .exceptions import HandshakeError, HandshakeRejected, HandshakeTimeout
from .handshake import client_handshake
from .http import Headers, header_list, header_text, subprotocol_list
from .options import OTHER_NAMES, ConnectionOptions, Settings, Unpack, settings_from
from .proxy import connect_through_proxy, proxy_from_environment
from .redirects import MAX_REDIRECTS, REDIRECT_STATUSES, Redirects, strip_credentials
from .transports import TRANSPORT_ERRORS, as_transport, asyncio_open
from .uri import WebSocketURI, parse_uri
from .version import __version__
from .websocket import Websocket

__all__ = [
    "open_websocket",
    "create_websocket",
    "open_websocket_client",
    "create_websocket_client",
]

logger = logging.getLogger("asyncwebsockets.client")

Address = str | tuple[Any, ...]

#: The ``User-Agent`` header a client sends unless told otherwise.
USER_AGENT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} asyncwebsockets/{__version__}"


#: A client's request headers are ``headers``, as in aiohttp; websockets and
#: trio-websocket call them otherwise.
_OTHER_NAMES = {**OTHER_NAMES, "extra_headers": "headers", "additional_headers": "headers"}


def _host_header(addr: Address) -> str:
    """The Host header for the 0.x ``addr`` argument: a host, or (host, port)."""
    if isinstance(addr, str):
        return addr
    host = str(addr[0])
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if len(addr) > 1 and addr[1] not in (None, 80, 443):
        host = f"{host}:{addr[1]}"
    return host


async def create_websocket(
    url: str,
    ssl: _ssl.SSLContext | bool | None = None,
    headers: Headers | None = None,
    subprotocols: Sequence[str] | None = None,
    *,
    origin: str | None = None,
    user_agent_header: str | None = USER_AGENT,
    proxy: str | bool | None = True,
    proxy_ssl: _ssl.SSLContext | None = None,
    max_redirects: int = MAX_REDIRECTS,
    unix_socket_path: str | None = None,
    **options: Unpack[ConnectionOptions],
) -> Websocket:
    """Connect to ``url`` (``ws://`` or ``wss://``); you close the result.

    ``ssl`` is used for ``wss://``: by default a context from
    :func:`ssl.create_default_context` (certificates and host name
    checked, SNI sent); pass your own context to change that.  ``headers``
    are extra request headers (a mapping or (name, value) pairs),
    ``subprotocols`` the ones to offer, ``origin`` the ``Origin`` header,
    ``user_agent_header`` the ``User-Agent`` header (None sends none),
    which an HTTP proxy's ``CONNECT`` request carries too.
    ``proxy`` is a proxy URL (``http://``, ``https://``, ``socks5://``,
    ``socks5h://``, ``socks4://``, ``socks4a://``), True (default) for the
    one the environment names (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``), or None for none; ``proxy_ssl`` the TLS
    context for an ``https://`` proxy.  Up to ``max_redirects`` redirects
    are followed (0 follows none).  With ``unix_socket_path``, the
    connection goes to that Unix socket instead (no proxy), and the URL
    only gives the ``Host`` header, the path and the scheme.
    The other options (timeouts, keepalive, limits, compression) are the
    :class:`~asyncwebsockets.options.ConnectionOptions`.

    The connection is serviced in the background from the moment this
    returns: pings are answered, keepalive pings sent and the server's
    close answered, whether or not you read.
    """
    settings = settings_from(options, "create_websocket", _OTHER_NAMES)
    uri = parse_uri(url)
    redirects = Redirects(uri, max_redirects)
    if ssl is not None and not isinstance(ssl, (bool, _ssl.SSLContext)):
        raise TypeError(f"ssl is an ssl.SSLContext, True, False or None, not {type(ssl).__name__}")
    subprotocols = subprotocol_list(subprotocols)
    extra: list[tuple[bytes, bytes]] = _with_user_agent(header_list(headers), user_agent_header)
    if origin is not None:
        extra.append((b"Origin", header_text("origin", origin)))
    # One budget for connecting, TLS and the WebSocket handshake together,
    # however many redirects it takes.
    deadline = None if settings.open_timeout is None else anyio.current_time() + settings.open_timeout
    while True:
        try:
            return await _connect(uri, ssl, extra, subprotocols, settings, deadline, proxy, proxy_ssl, unix_socket_path)
        except HandshakeRejected as exc:
            if exc.status_code not in REDIRECT_STATUSES:
                raise
            target, other_host = redirects.follow(uri, exc)
            logger.debug(
                "HTTP %d redirect from %s%s to %s%s",
                exc.status_code,
                uri.host_header,
                uri.resource,
                target.host_header,
                target.resource,
            )
            if other_host:
                extra = strip_credentials(extra)
            uri = target


async def _connect(
    uri: WebSocketURI,
    ssl: _ssl.SSLContext | bool | None,
    headers: list[tuple[bytes, bytes]],
    subprotocols: Sequence[str] | None,
    settings: Settings,
    deadline: float | None,
    proxy: str | bool | None,
    proxy_ssl: _ssl.SSLContext | None,
    unix_socket_path: str | None = None,
) -> Websocket:
    """One opening handshake with the server ``uri`` names, through a proxy if there is one."""
    context: _ssl.SSLContext | None = None
    if uri.secure:
        if isinstance(ssl, _ssl.SSLContext):
            context = ssl
        elif ssl is False:
            raise ValueError("wss:// needs TLS; ssl=False contradicts the URL")
        else:
            context = _ssl.create_default_context()
    elif isinstance(ssl, _ssl.SSLContext) or ssl is True:
        raise ValueError("ssl was given for a ws:// URL; use wss://")
    extra = list(headers)
    if uri.authorization is not None:
        extra.append((b"Authorization", uri.authorization.encode("ascii")))
    proxy_url = proxy_from_environment(uri) if proxy is True else proxy or None
    open_timeout = None if deadline is None else max(0.0, deadline - anyio.current_time())
    try:
        with anyio.fail_after(open_timeout):
            if unix_socket_path is not None:
                stream: Any = await _connect_unix(unix_socket_path, context, uri.host)
            elif proxy_url is not None:
                stream = await connect_through_proxy(
                    proxy_url, uri.host, uri.port, context, proxy_ssl=proxy_ssl, user_agent=_user_agent(extra)
                )
            elif asyncio_open.enabled():
                stream = await asyncio_open.connect(uri.host, uri.port, context, uri.host)
            elif context is None:
                stream = await anyio.connect_tcp(uri.host, uri.port)
            else:
                # SNI and host name checking use the URL's host.
                stream = await anyio.connect_tcp(
                    uri.host,
                    uri.port,
                    ssl_context=context,
                    tls_hostname=uri.host,
                    tls_standard_compatible=False,
                )
    except TimeoutError:
        raise HandshakeTimeout(f"connecting to {uri.host}:{uri.port} timed out") from None
    except TRANSPORT_ERRORS as exc:
        if isinstance(exc, HandshakeError):  # a ProxyError says it all
            raise
        raise HandshakeError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    if deadline is not None:
        open_timeout = max(0.0, deadline - anyio.current_time())
    return await _start_client(stream, uri.host_header, uri.resource, extra, subprotocols, settings, open_timeout)


async def _connect_unix(path: str, context: _ssl.SSLContext | None, hostname: str) -> Any:
    """A stream to the Unix socket at ``path`` (TLS over it with ``context``)."""
    if asyncio_open.enabled():
        return await asyncio_open.connect_unix(path, context, hostname)
    stream: Any = await anyio.connect_unix(path)
    if context is not None:
        stream = await TLSStream.wrap(stream, hostname=hostname, ssl_context=context, standard_compatible=False)
    return stream


@asynccontextmanager
async def open_websocket(
    url: str,
    headers: Headers | None = None,
    subprotocols: Sequence[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[Websocket]:
    """Connect to ``url`` for the ``async with`` block, closing with 1000 after it.

    Takes the keyword arguments of :func:`create_websocket` (``ssl``,
    ``origin``, the :class:`~asyncwebsockets.options.ConnectionOptions`);
    ``headers`` and ``subprotocols`` may also be given by position, as in
    the 0.x releases.
    """
    ws = await create_websocket(url, headers=headers, subprotocols=subprotocols, **kwargs)
    try:
        yield ws
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()


async def create_websocket_client(
    sock: Any,
    addr: Address,
    path: str,
    headers: Headers | None = None,
    subprotocols: Sequence[str] | None = None,
    *,
    user_agent_header: str | None = USER_AGENT,
    **options: Unpack[ConnectionOptions],
) -> Websocket:
    """Run the client handshake over ``sock``, a stream you connected; you close the result.

    ``sock`` is any anyio byte stream (TCP, TLS, Unix socket, memory stream)
    or a trio stream.  ``addr`` names the server for the ``Host`` header: a
    host name, or a ``(host, port)`` tuple; ``path`` is the request target
    (path and query).  The other arguments are those of
    :func:`create_websocket`.  The connection is serviced in a task of its
    own until it closes (on asyncio, a plain TCP stream needs none: its
    servicing runs in the event loop's callbacks).
    """
    settings = settings_from(options, "create_websocket_client", _OTHER_NAMES)
    if not isinstance(path, str):
        raise TypeError(f"path is a str, not {type(path).__name__}")
    if not path.startswith("/"):
        path = "/" + path
    subprotocols = subprotocol_list(subprotocols)
    extra = _with_user_agent(header_list(headers), user_agent_header)
    return await _start_client(sock, _host_header(addr), path, extra, subprotocols, settings, settings.open_timeout)


@asynccontextmanager
async def open_websocket_client(
    sock: Any, addr: Address, path: str, *args: Any, **kwargs: Any
) -> AsyncIterator[Websocket]:
    """:func:`create_websocket_client` for an ``async with`` block."""
    ws = await create_websocket_client(sock, addr, path, *args, **kwargs)
    try:
        yield ws
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()


def _with_user_agent(headers: list[tuple[bytes, bytes]], user_agent: str | None) -> list[tuple[bytes, bytes]]:
    """``headers`` with a ``User-Agent``, unless they have one or none is wanted."""
    if user_agent is not None and not any(name.lower() == b"user-agent" for name, _ in headers):
        headers.append((b"User-Agent", header_text("user_agent_header", user_agent)))
    return headers


def _user_agent(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The ``User-Agent`` the handshake sends, for the proxy to see too (None: none)."""
    for name, value in headers:
        if name.lower() == b"user-agent":
            return value.decode("latin-1")
    return None


async def _start_client(
    stream: Any,
    host: str,
    target: str,
    headers: list[tuple[bytes, bytes]],
    subprotocols: Sequence[str] | None,
    settings: Settings,
    open_timeout: float | None,
) -> Websocket:
    connection = Connection(
        ConnectionType.CLIENT,
        max_message_size=settings.max_message_size,
        reassemble=settings.reassemble,
        compression=settings.compression,
    )
    hosts = [value for name, value in headers if name.lower() == b"host"]
    if hosts:
        # A Host header of the caller's (a virtual host on an address, say)
        # replaces the one the URL gives; the request has exactly one.
        host = hosts[-1].decode("latin-1")
        headers = [(name, value) for name, value in headers if name.lower() != b"host"]
    transport = as_transport(stream)
    transport.set_write_limits(*settings.write_marks)
    events = await client_handshake(
        transport, connection, host, target, list(subprotocols or ()), headers, open_timeout
    )
    ws = Websocket(transport, connection, settings, logger, events)
    ws._start()
    logger.debug("connected to %s%s", host, target)
    return ws
