"""Opening client connections: by URL, or over a stream you already have."""

from __future__ import annotations

import ssl as _ssl
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, List, Optional, Sequence, Tuple, Union

import anyio

from . import asyncio_transport
from .connection import Connection, ConnectionType, Headers
from .permessage_deflate import Compression, PerMessageDeflate, check_compression
from .exceptions import HandshakeError, HandshakeTimeout
from .transport import TRANSPORT_ERRORS, as_transport
from .uri import parse_uri
from .websocket import Websocket

__all__ = [
    "open_websocket",
    "create_websocket",
    "open_websocket_client",
    "create_websocket_client",
]

Address = Union[str, Tuple[Any, ...]]


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
    ssl: Union[_ssl.SSLContext, bool, None] = None,
    headers: Optional[Headers] = None,
    subprotocols: Optional[Sequence[str]] = None,
    *,
    origin: Optional[str] = None,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = 10.0,
    ping_interval: Optional[float] = 20.0,
    ping_timeout: Optional[float] = 20.0,
    max_message_size: Optional[int] = 1 << 20,
    reassemble: bool = True,
    compression: Compression = None,
) -> Websocket:
    """Connect to ``url`` (``ws://`` or ``wss://``); you close the result.

    ``ssl`` is used for ``wss://``: by default a context from
    :func:`ssl.create_default_context` (certificates and host name
    checked, SNI sent); pass your own context to change that.  ``headers``
    are extra request headers, ``subprotocols`` the ones to offer, ``origin``
    the ``Origin`` header.  ``open_timeout`` bounds connecting plus the
    handshake; ``close_timeout`` the close handshake.  While the connection
    is read, a ping goes out after ``ping_interval`` seconds of silence and
    the connection is failed with 1011 if nothing arrives within
    ``ping_timeout`` more.  Messages over ``max_message_size`` bytes close
    the connection with 1009.  ``reassemble=False`` yields data frame by
    frame (``message_finished`` marks the last) instead of whole messages.
    ``compression="deflate"`` (or a
    :class:`~asyncwebsockets.PerMessageDeflate`) offers
    permessage-deflate; the default, None, offers nothing.
    """
    uri = parse_uri(url)
    settings = check_compression(compression)
    context: Optional[_ssl.SSLContext] = None
    if uri.secure:
        if isinstance(ssl, _ssl.SSLContext):
            context = ssl
        elif ssl is False:
            raise ValueError("wss:// needs TLS; ssl=False contradicts the URL")
        else:
            context = _ssl.create_default_context()
    elif isinstance(ssl, _ssl.SSLContext) or ssl is True:
        raise ValueError("ssl was given for a ws:// URL; use wss://")
    extra: List[Tuple[Union[bytes, str], Union[bytes, str]]] = list(headers or ())
    if origin is not None:
        extra.append(("Origin", origin))
    if uri.authorization is not None:
        extra.append(("Authorization", uri.authorization))
    # One budget for connecting, TLS and the WebSocket handshake together.
    started = anyio.current_time()
    try:
        with anyio.fail_after(open_timeout):
            if asyncio_transport.enabled():
                stream: Any = await asyncio_transport.connect(uri.host, uri.port, context, uri.host)
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
        raise HandshakeError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    if open_timeout is not None:
        open_timeout = max(0.0, open_timeout - (anyio.current_time() - started))
    return await _start_client(
        stream,
        uri.host_header,
        uri.resource,
        extra,
        subprotocols,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        reassemble=reassemble,
        compression=settings,
    )


@asynccontextmanager
async def open_websocket(
    url: str,
    headers: Optional[Headers] = None,
    subprotocols: Optional[Sequence[str]] = None,
    **kwargs: Any,
) -> AsyncIterator[Websocket]:
    """Connect to ``url`` for the ``async with`` block, closing with 1000 after it.

    Takes the keyword arguments of :func:`create_websocket` (``ssl``,
    ``origin``, the timeouts...); ``headers`` and ``subprotocols`` may also
    be given by position, as in the 0.x releases.
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
    headers: Optional[Headers] = None,
    subprotocols: Optional[Sequence[str]] = None,
    *,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = 10.0,
    ping_interval: Optional[float] = 20.0,
    ping_timeout: Optional[float] = 20.0,
    max_message_size: Optional[int] = 1 << 20,
    reassemble: bool = True,
    compression: Compression = None,
) -> Websocket:
    """Run the client handshake over ``sock``, a stream you connected; you close the result.

    ``sock`` is any anyio byte stream (TCP, TLS, Unix socket, memory stream)
    or a trio stream.  ``addr`` names the server for the ``Host`` header: a
    host name, or a ``(host, port)`` tuple; ``path`` is the request target
    (path and query).  The other arguments are those of
    :func:`create_websocket`.
    """
    settings = check_compression(compression)
    if not path.startswith("/"):
        path = "/" + path
    return await _start_client(
        sock,
        _host_header(addr),
        path,
        headers,
        subprotocols,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        reassemble=reassemble,
        compression=settings,
    )


@asynccontextmanager
async def open_websocket_client(sock: Any, addr: Address, path: str, *args: Any, **kwargs: Any) -> AsyncIterator[Websocket]:
    """:func:`create_websocket_client` for an ``async with`` block."""
    ws = await create_websocket_client(sock, addr, path, *args, **kwargs)
    try:
        yield ws
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()


async def _start_client(
    stream: Any,
    host: str,
    target: str,
    headers: Optional[Headers],
    subprotocols: Optional[Sequence[str]],
    *,
    open_timeout: Optional[float],
    close_timeout: Optional[float],
    ping_interval: Optional[float],
    ping_timeout: Optional[float],
    max_message_size: Optional[int],
    reassemble: bool,
    compression: Optional[PerMessageDeflate],
) -> Websocket:
    connection = Connection(
        ConnectionType.CLIENT, max_message_size=max_message_size, reassemble=reassemble, compression=compression
    )
    ws = Websocket(
        as_transport(stream),
        connection,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    await ws._client_handshake(host, target, list(subprotocols or ()), headers, open_timeout)
    return ws
