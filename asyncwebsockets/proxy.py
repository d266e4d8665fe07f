"""Reaching a server through a proxy: HTTP ``CONNECT`` tunnels and SOCKS.

A client behind a proxy cannot open a TCP connection to the server itself;
it asks the proxy to open one and then speaks WebSocket (and TLS, for
``wss://``) through it as if the proxy were not there.  HTTP proxies are
asked with ``CONNECT`` (RFC 9110 section 9.3.6), written here with h11
(which wsproto already brings); SOCKS needs the optional ``python-socks``
package (``pip install 'asyncwebsockets[socks]'``), imported only when a
SOCKS proxy is used.

Which proxy to use comes from the ``proxy=`` argument or, by default, from
the environment the way every other HTTP client reads it (``HTTPS_PROXY``
for ``wss://``, ``HTTP_PROXY`` for ``ws://``, ``ALL_PROXY`` for both,
minus the hosts in ``NO_PROXY``), through :mod:`urllib.request` so that
the rules, and the platform's own settings, are the standard library's.
"""

from __future__ import annotations

import base64
import ssl as _ssl
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio
import h11
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from .exceptions import InvalidURI, ProxyError
from .transports.base import TRANSPORT_ERRORS
from .uri import WebSocketURI, split_url

__all__ = ["ProxyURL", "parse_proxy", "proxy_from_environment", "connect_through_proxy", "PROXY_SCHEMES"]

#: Proxy URL schemes and their default ports.  ``socks5h`` and ``socks4a``
#: have the proxy resolve the server's name, as curl's do.
PROXY_SCHEMES = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080, "socks4": 1080, "socks4a": 1080}

#: Bytes of a proxy's answer to ``CONNECT`` read before giving up on it.
MAX_RESPONSE_HEAD = 16 * 1024


@dataclass(frozen=True)
class ProxyURL:
    """A proxy as a URL names it; credentials, if any, are the proxy's own."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        # Never the credentials: this ends up in error messages and logs.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_proxy(url: str) -> ProxyURL:
    """Split a proxy URL; a bare ``host:port`` (common in ``HTTP_PROXY``) is an HTTP proxy.

    Raises :class:`~asyncwebsockets.exceptions.InvalidURI` for anything that
    names no proxy this module can use, before any I/O.
    """
    if not isinstance(url, str):
        raise InvalidURI(f"expected a proxy URL string, got {type(url).__name__}")
    if "://" not in url:
        url = "http://" + url
    parts, port = split_url(url, "proxy URL")
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise InvalidURI(f"{url!r} is not a proxy URL (expected {', '.join(s + '://' for s in PROXY_SCHEMES)})")
    if not parts.hostname:
        raise InvalidURI(f"proxy URL {url!r} has no host")
    return ProxyURL(
        scheme,
        parts.hostname,
        port or PROXY_SCHEMES[scheme],
        unquote(parts.username) if parts.username is not None else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def proxy_from_environment(uri: WebSocketURI) -> str | None:
    """The proxy the environment says to use for ``uri``, or None to connect directly.

    RFC 6455 section 4.1 has ``wss://`` use the HTTPS proxy and ``ws://``
    the HTTP one; ``ALL_PROXY`` serves both when those are not set.
    """
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https" if uri.secure else "http") or proxies.get("all")
    if not proxy:
        return None
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    return proxy


async def connect_through_proxy(
    proxy: str,
    host: str,
    port: int,
    ssl_context: _ssl.SSLContext | None = None,
    *,
    proxy_ssl: _ssl.SSLContext | None = None,
    user_agent: str | None = None,
) -> ByteStream:
    """A stream to ``host:port`` through ``proxy``, with TLS to the server when ``ssl_context`` is given.

    ``proxy_ssl`` is the TLS context for an ``https://`` proxy (by default
    :func:`ssl.create_default_context`).  ``user_agent`` goes in the
    ``User-Agent`` header of an HTTP proxy's ``CONNECT`` request (None sends
    none): proxies log it and some filter on it, so it should be the one
    the WebSocket handshake itself carries.  Failures of the proxy raise
    :class:`~asyncwebsockets.exceptions.ProxyError`; those of the server's
    TLS handshake propagate as they would on a direct connection.  No
    timeout of its own: the caller bounds the whole opening.
    """
    where = parse_proxy(proxy)
    if where.scheme.startswith("socks"):
        stream = await _socks_connect(where, host, port)
    else:
        stream = await _http_connect(where, host, port, proxy_ssl, user_agent)
    if ssl_context is None:
        return stream
    try:
        # As on a direct connection: SNI and host name checking use the
        # server's name, never the proxy's.
        return await TLSStream.wrap(stream, hostname=host, ssl_context=ssl_context, standard_compatible=False)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        raise


async def _http_connect(
    proxy: ProxyURL, host: str, port: int, proxy_ssl: _ssl.SSLContext | None, user_agent: str | None = None
) -> ByteStream:
    """Open a ``CONNECT`` tunnel; the stream returned carries the server's bytes from the first one."""
    try:
        if proxy.scheme == "https":
            stream: ByteStream = await anyio.connect_tcp(
                proxy.host,
                proxy.port,
                ssl_context=proxy_ssl or _ssl.create_default_context(),
                tls_hostname=proxy.host,
                tls_standard_compatible=False,
            )
        else:
            stream = await anyio.connect_tcp(proxy.host, proxy.port)
    except TRANSPORT_ERRORS as exc:
        raise ProxyError(f"cannot connect to proxy {proxy}: {exc}") from exc
    try:
        await _request_tunnel(stream, proxy, host, port, user_agent)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        raise
    return stream


async def _request_tunnel(
    stream: ByteStream, proxy: ProxyURL, host: str, port: int, user_agent: str | None = None
) -> None:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [("Host", authority)]
    if user_agent is not None:
        headers.append(("User-Agent", user_agent))
    if proxy.username is not None:
        credentials = f"{proxy.username}:{proxy.password or ''}".encode()
        headers.append(("Proxy-Authorization", "Basic " + base64.b64encode(credentials).decode("ascii")))
    parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
    request = parser.send(h11.Request(method="CONNECT", target=authority, headers=headers))
    assert request is not None
    # Ending the (empty) request is what lets h11 hand over the
    # connection once the proxy answers 2xx.
    parser.send(h11.EndOfMessage())
    try:
        await stream.send(request)
        response = await _read_response(stream, parser, proxy)
    except TRANSPORT_ERRORS as exc:
        if isinstance(exc, ProxyError):
            raise
        raise ProxyError(f"connection to proxy {proxy} lost during CONNECT: {exc!r}") from exc
    except h11.RemoteProtocolError as exc:
        raise ProxyError(f"proxy {proxy} answered CONNECT with invalid HTTP: {exc}") from None
    if not 200 <= response.status_code < 300:
        reason = response.reason.decode("latin-1")
        raise ProxyError(
            f"proxy {proxy} refused to connect to {authority}: HTTP {response.status_code} {reason}".rstrip(),
            response.status_code,
            [(bytes(name), bytes(value)) for name, value in response.headers],
        )
    if parser.trailing_data[0]:
        # Nothing may come from the server before the client speaks, and
        # bytes already read could not be handed on to the next layer.
        raise ProxyError(f"proxy {proxy} sent data before the tunnel was used")


async def _read_response(stream: ByteStream, parser: h11.Connection, proxy: ProxyURL) -> h11.Response:
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive()
            except anyio.EndOfStream:
                data = b""
            if not data:
                raise ProxyError(f"proxy {proxy} closed the connection before answering CONNECT")
            parser.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        elif not isinstance(event, h11.InformationalResponse):  # pragma: no cover - h11 yields nothing else here
            raise ProxyError(f"proxy {proxy} answered CONNECT with {event!r}")


async def _socks_connect(proxy: ProxyURL, host: str, port: int) -> ByteStream:
    try:
        from python_socks import ProxyError as SocksError
        from python_socks import ProxyType
        from python_socks.async_.anyio import Proxy
    except ImportError as exc:
        raise ImportError(
            f"a {proxy.scheme}:// proxy needs the python-socks package: pip install 'asyncwebsockets[socks]'"
        ) from exc
    kind = ProxyType.SOCKS5 if proxy.scheme.startswith("socks5") else ProxyType.SOCKS4
    client: Any = Proxy.create(
        kind, proxy.host, proxy.port, proxy.username, proxy.password, proxy.scheme in ("socks5h", "socks4a")
    )
    try:
        stream: ByteStream = await client.connect(host, port)
    except SocksError as exc:
        raise ProxyError(f"{proxy} refused to connect to {host}:{port}: {exc}") from exc
    except TRANSPORT_ERRORS as exc:
        raise ProxyError(f"cannot connect through proxy {proxy}: {exc}") from exc
    except Exception as exc:
        # A proxy hanging up mid-reply escapes python-socks as its own
        # IncompleteReadError (not a ProxyError) in some versions.
        if isinstance(exc, EOFError) or type(exc).__module__.startswith("python_socks"):
            raise ProxyError(f"{proxy} closed the connection to {host}:{port}: {exc}") from exc
        raise
    return stream
