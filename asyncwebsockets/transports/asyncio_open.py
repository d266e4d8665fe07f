"""How connections on asyncio come to be serviced by :class:`~.asyncio_native.AsyncioTransport`.

Three ways: the connections we open (:func:`connect`, :func:`connect_unix`),
the ones :func:`start_server` accepts for ``serve()``, and anyio TCP streams
handed to us by code written for the 0.x API, whose asyncio transport we
take over (:func:`adopt`).  :func:`enabled` says whether to take any of
them: only on a running asyncio (or uvloop) loop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import Any

from .._wakeup import on_trio
from .asyncio_native import AsyncioTransport

__all__ = ["enabled", "connect", "connect_unix", "start_server", "adopt"]

#: Tests turn this off to run the generic anyio path on asyncio too.
USE_ON_ASYNCIO = True

#: Connections asyncio accepts in one go when the listening socket is ready
#: (its own default).
ACCEPTS_PER_ROUND = 100


def enabled() -> bool:
    """Whether to use :class:`AsyncioTransport`: the running backend is asyncio (or uvloop)."""
    if not USE_ON_ASYNCIO or on_trio():
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def connect(host: str, port: int, ssl: _ssl.SSLContext | None, server_hostname: str | None) -> AsyncioTransport:
    """Open a TCP (or TLS) connection with our protocol on the running loop."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        AsyncioTransport,
        host,
        port,
        ssl=ssl,
        server_hostname=server_hostname if ssl is not None else None,
    )
    return protocol


async def connect_unix(path: str, ssl: _ssl.SSLContext | None, server_hostname: str | None) -> AsyncioTransport:
    """Open a connection to a Unix socket (TLS over it with ``ssl``) with our protocol."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_unix_connection(
        AsyncioTransport, path, ssl=ssl, server_hostname=server_hostname if ssl is not None else None
    )
    return protocol


async def start_server(
    on_connect: Callable[[AsyncioTransport], None],
    sock: socket.socket,
    *,
    ssl: _ssl.SSLContext | None,
    backlog: int,
    ssl_handshake_timeout: float | None,
) -> asyncio.base_events.Server:
    """Serve on the listening ``sock``; ``on_connect`` gets each accepted connection.

    asyncio also takes ``backlog`` as the number of connections to accept
    each time the socket is ready, and out of file descriptors it logs
    each attempt that fails and schedules a retry for it: with a backlog
    of thousands, one such moment kept the loop logging for seconds at a
    time.  So asyncio gets its own default, and the socket our backlog.
    """
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {}
    if ssl is not None and ssl_handshake_timeout is not None:
        kwargs["ssl_handshake_timeout"] = ssl_handshake_timeout
    server = await loop.create_server(
        lambda: AsyncioTransport(on_connect),
        sock=sock,
        ssl=ssl,
        backlog=min(backlog, ACCEPTS_PER_ROUND),
        **kwargs,
    )
    sock.listen(backlog)
    return server


def adopt(stream: Any) -> AsyncioTransport | None:
    """Take over the asyncio transport under an anyio TCP stream, if it has one.

    Code written for the 0.x API accepts connections with anyio and hands
    us its streams.  Under a plain anyio ``SocketStream`` on asyncio lies
    an ordinary asyncio transport: swapping our protocol in gives such a
    connection the same servicing, and speed, as one we accepted ourselves.
    Bytes anyio has already read are carried over.  TLS streams (anyio does
    TLS above the socket, in Python) and anything else are left alone.
    """
    if not USE_ON_ASYNCIO or type(stream).__module__ != "anyio._backends._asyncio":
        return None
    transport = getattr(stream, "_transport", None)
    old = getattr(stream, "_protocol", None)
    read_queue = getattr(old, "read_queue", None)
    if transport is None or read_queue is None or transport.is_closing():
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    received = list(read_queue)
    read_queue.clear()
    return AsyncioTransport.take_over(transport, received, bool(getattr(old, "is_at_eof", False)))
