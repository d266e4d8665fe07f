"""The client functions: URLs, the request they send, and how handshakes fail.

Some tests replace the network with an in-memory pipe (:func:`network`):
the client "connects" to a raw peer, and the test sees which host and port
it asked for and the exact request it sent, ports 80 and 443 included.
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import Request, TextMessage

from asyncwebsockets import (
    ConnectionClosedOK,
    HandshakeError,
    HandshakeRejected,
    HandshakeTimeout,
    InvalidURI,
    Websocket,
    WebSocketError,
    create_websocket,
    create_websocket_client,
    open_websocket,
    open_websocket_client,
)
from asyncwebsockets.transports import asyncio_open as asyncio_transport

from .helpers import (
    RawPeer,
    Recorder,
    accept_key,
    echo,
    frame,
    head_of,
    memory_pipe,
    start,
)

pytestmark = pytest.mark.anyio


class FakeNetwork:
    """Where the client asked to connect, and the raw peers it reached instead."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.peers: list[RawPeer] = []
        self.connected: anyio.Event | None = None

    def connect(self, host: str, port: int, **tls: Any) -> Any:
        self.calls.append({"host": host, "port": port, **tls})
        ours, theirs = memory_pipe()
        self.peers.append(RawPeer(theirs, masks=False))
        if self.connected is not None:
            self.connected.set()
        return ours


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNetwork]:
    """Client connections end in memory, at a raw peer, whichever transport would be used."""
    fake = FakeNetwork()

    async def connect_tcp(host: str, port: int, **kwargs: Any) -> Any:
        return fake.connect(host, port, **kwargs)

    async def connect_asyncio(host: str, port: int, context: ssl.SSLContext | None, server_hostname: str | None) -> Any:
        return fake.connect(host, port, ssl_context=context, tls_hostname=server_hostname)

    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    monkeypatch.setattr(asyncio_transport, "connect", connect_asyncio)
    yield fake


async def handshake_via(
    network: FakeNetwork, url: str, **options: Any
) -> tuple[Websocket, dict[str, Any], str, dict[str, str]]:
    """Connect to ``url`` through the fake network; the socket, the connect call and the request head."""
    heads: list[bytes] = []
    network.connected = anyio.Event()

    async def answer() -> None:
        assert network.connected is not None
        await network.connected.wait()
        heads.append(await network.peers[-1].accept())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(answer)
            ws = await create_websocket(url, **options)
    line, headers = head_of(heads[0])
    return ws, network.calls[-1], line, headers


# -- what the client asks for -----------------------------------------------


@pytest.mark.parametrize(
    "url, host, port, line, host_header",
    [
        ("ws://example.com", "example.com", 80, "GET / HTTP/1.1", "example.com"),
        ("ws://example.com:80/", "example.com", 80, "GET / HTTP/1.1", "example.com"),
        ("ws://example.com:8080/chat", "example.com", 8080, "GET /chat HTTP/1.1", "example.com:8080"),
        ("ws://example.com/a/b?x=1&y=two", "example.com", 80, "GET /a/b?x=1&y=two HTTP/1.1", "example.com"),
        ("ws://example.com?only=query", "example.com", 80, "GET /?only=query HTTP/1.1", "example.com"),
        ("ws://EXAMPLE.com/Case", "example.com", 80, "GET /Case HTTP/1.1", "example.com"),
        ("ws://[::1]:9000/v6", "::1", 9000, "GET /v6 HTTP/1.1", "[::1]:9000"),
        ("ws://[2001:db8::1]/", "2001:db8::1", 80, "GET / HTTP/1.1", "[2001:db8::1]"),
        ("ws://example.com/sp ace", "example.com", 80, "GET /sp%20ace HTTP/1.1", "example.com"),
    ],
)
async def test_url_to_connection_and_request(
    network: FakeNetwork, url: str, host: str, port: int, line: str, host_header: str
) -> None:
    ws, call, request_line, headers = await handshake_via(network, url)
    assert (call["host"], call["port"]) == (host, port)
    assert call.get("ssl_context") is None
    assert request_line == line
    assert headers["host"] == host_header
    assert "authorization" not in headers and "origin" not in headers
    await ws.abort()


@pytest.mark.parametrize(
    "url, port, host_header",
    [
        ("wss://example.com/", 443, "example.com"),
        ("wss://example.com:8443/", 8443, "example.com:8443"),
        ("wss://example.com:80/", 80, "example.com:80"),
    ],
)
@pytest.mark.parametrize("ssl_argument", [None, True])
async def test_wss_uses_a_verifying_context(
    network: FakeNetwork, url: str, port: int, host_header: str, ssl_argument: Any
) -> None:
    ws, call, _, headers = await handshake_via(network, url, ssl=ssl_argument)
    assert call["port"] == port and headers["host"] == host_header
    context = call["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert call["tls_hostname"] == "example.com"  # SNI and the name checked: the URL's host
    await ws.abort()


async def test_wss_with_own_context(network: FakeNetwork) -> None:
    context = ssl.create_default_context()
    ws, call, _, _ = await handshake_via(network, "wss://example.com/", ssl=context)
    assert call["ssl_context"] is context
    await ws.abort()


async def test_headers_origin_and_subprotocols_sent(network: FakeNetwork) -> None:
    ws, _, _, headers = await handshake_via(
        network,
        "ws://example.com/",
        headers=[("X-Str", "text"), (b"X-Bytes", b"raw")],
        subprotocols=["chat.v2", "chat.v1"],
        origin="https://app.example",
    )
    assert headers["x-str"] == "text" and headers["x-bytes"] == "raw"
    assert headers["origin"] == "https://app.example"
    assert [p.strip() for p in headers["sec-websocket-protocol"].split(",")] == ["chat.v2", "chat.v1"]
    assert headers["sec-websocket-version"] == "13"
    assert ws.subprotocol is None  # the raw peer chose none
    await ws.abort()


@pytest.mark.parametrize(
    "userinfo, credentials",
    [
        ("alice:secret", b"alice:secret"),
        ("alice:s%40cret", b"alice:s@cret"),
        ("bob", b"bob:"),
        ("%C3%BC:p%3Aw", "ü:p:w".encode()),
    ],
)
async def test_basic_auth_from_url(network: FakeNetwork, userinfo: str, credentials: bytes) -> None:
    ws, call, _, headers = await handshake_via(network, f"ws://{userinfo}@example.com:8000/private")
    assert call["host"] == "example.com"
    assert headers["host"] == "example.com:8000"  # no credentials in the Host header
    assert headers["authorization"] == "Basic " + base64.b64encode(credentials).decode()
    await ws.abort()


async def test_basic_auth_over_tcp(codec: SimpleNamespace) -> None:
    seen: list[Request] = []

    async def remember(request: Request) -> bool:
        seen.append(request)
        return True

    async with anyio.create_task_group() as tg:
        server = await start(tg, echo, filter=remember)
        with anyio.fail_after(5):
            async with open_websocket(
                f"ws://user:pa%20ss@127.0.0.1:{server.port}/x?y=1", origin="http://o.example"
            ) as ws:
                await ws.send("hi")
                assert (await ws.receive()).data == "hi"
        headers = dict(seen[0].extra_headers)
        assert headers[b"authorization"] == b"Basic " + base64.b64encode(b"user:pa ss")
        assert headers[b"origin"] == b"http://o.example"
        assert seen[0].host == f"127.0.0.1:{server.port}"
        assert seen[0].target == "/x?y=1"
        tg.cancel_scope.cancel()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_literal_url(codec: SimpleNamespace) -> None:
    from asyncwebsockets import serve

    hosts: list[str] = []

    async def host_header(ws: Websocket) -> None:
        assert ws.request is not None
        hosts.append(ws.request.host)
        await ws.send("v6")

    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(host_header, "::1", 0, task_status=task_status))
        with anyio.fail_after(5):
            async with open_websocket(f"ws://[::1]:{server.port}/") as ws:
                assert (await ws.receive()).data == "v6"
        assert hosts == [f"[::1]:{server.port}"]
        tg.cancel_scope.cancel()


# -- refused before any I/O ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://example.com/",
        "ftp://example.com/",
        "ws://",
        "ws:///path",
        "ws://:80/",
        "ws://host/#frag",
        "ws://host/path#",
        "wss://host:0/",
        "ws://host:99999/",
        "ws://host:port/",
        "ws://[::1/",
        "example.com",
        "//example.com/",
        "",
        "nonsense",
    ],
)
async def test_bad_urls_fail_before_io(network: FakeNetwork, url: str) -> None:
    with pytest.raises(InvalidURI) as info:
        await create_websocket(url)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        async with open_websocket(url):
            pass  # pragma: no cover
    assert network.calls == []


@pytest.mark.parametrize(
    "url, options",
    [
        ("ws://127.0.0.1:1/", {"ssl": ssl.create_default_context()}),
        ("ws://127.0.0.1:1/", {"ssl": True}),
        ("wss://127.0.0.1:1/", {"ssl": False}),
        ("ws://127.0.0.1:1/", {"compression": "brotli"}),  # no such extension
    ],
)
async def test_contradictions_fail_before_io(network: FakeNetwork, url: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        await create_websocket(url, **options)
    assert not isinstance(info.value, ConnectionError)
    assert network.calls == []


async def test_ssl_false_with_ws_is_fine(network: FakeNetwork) -> None:
    ws, call, _, _ = await handshake_via(network, "ws://example.com/", ssl=False)
    assert call.get("ssl_context") is None
    await ws.abort()


# -- failed handshakes ----------------------------------------------------


async def test_connection_refused_is_handshake_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with anyio.fail_after(5):
        with pytest.raises(HandshakeError) as info:
            await create_websocket(f"ws://127.0.0.1:{port}/")
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, WebSocketError)
    assert not isinstance(info.value, HandshakeRejected)


async def test_open_timeout_against_silent_server() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: anyio.sleep_forever())
        begin = anyio.current_time()
        with anyio.fail_after(5):
            with pytest.raises(HandshakeTimeout) as info:
                await create_websocket(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
        assert 0.15 <= anyio.current_time() - begin < 3
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, ConnectionError)
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
async def test_open_timeout_on_a_stream() -> None:
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=False)
    with anyio.fail_after(5):
        with pytest.raises(HandshakeTimeout):
            await create_websocket_client(ours, "localhost", "/", open_timeout=0.1)
        await raw.read_head()  # the request went out
        assert await raw.read_to_eof() == []  # then the stream was closed


RESPONSES = {
    "garbage": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad accept": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: dGhlIHdyb25nIGtleQ==\r\n\r\n",
    "200": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "cut short": b"HTTP/1.1 101 Swi",
    "nothing": b"",
}


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
@pytest.mark.parametrize("response", list(RESPONSES), ids=list(RESPONSES))
async def test_bad_responses_are_handshake_errors(response: str) -> None:
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=False)

    async def answer() -> None:
        await raw.read_head()
        await raw.send(RESPONSES[response])
        if response in ("cut short", "nothing", "200"):
            await raw.aclose()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(answer)
            with pytest.raises(HandshakeError) as info:
                await create_websocket_client(ours, "localhost", "/")
        assert isinstance(info.value, ConnectionError)
        if response == "200":
            assert isinstance(info.value, HandshakeRejected) and info.value.status_code == 200
            assert info.value.body == b"hi"
        else:
            assert not isinstance(info.value, HandshakeRejected)
        if not raw.eof:
            assert await raw.read_to_eof() == []  # we hung up


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
async def test_rejection_details_reach_the_client() -> None:
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=False)

    async def refuse() -> None:
        await raw.read_head()
        await raw.send(
            b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="x"\r\nContent-Length: 12\r\n\r\nlog in first'
        )

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(refuse)
            with pytest.raises(HandshakeRejected) as info:
                await create_websocket_client(ours, "localhost", "/")
    assert info.value.status_code == 401
    assert info.value.body == b"log in first"
    assert (b"www-authenticate", b'Basic realm="x"') in info.value.headers
    assert str(info.value) == "handshake rejected with HTTP 401"


async def answer_close(raw: RawPeer, codes: list[int | None]) -> None:
    """Be a server at the end: echo the client's close frame, then close the connection."""
    code = await raw.read_close_code()
    codes.append(code)
    await raw.send_frame(8, (code or 1000).to_bytes(2, "big"))
    await raw.aclose()


# -- existing streams ---------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
@pytest.mark.parametrize(
    "addr, path, host, target",
    [
        ("example.com", "/", "example.com", "/"),
        (("example.com", 80), "/a?b=c", "example.com", "/a?b=c"),
        (("example.com", 8080), "chat", "example.com:8080", "/chat"),
        (("::1", 9000), "/", "[::1]:9000", "/"),
        (("127.0.0.1", 5000, 0, 0), "/", "127.0.0.1:5000", "/"),
    ],
)
async def test_client_on_a_stream_host_and_target(
    codec: SimpleNamespace, addr: Any, path: str, host: str, target: str
) -> None:
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=False)
    heads: list[bytes] = []
    codes: list[int | None] = []

    async def accept() -> None:
        heads.append(await raw.accept())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(accept)
            async with open_websocket_client(ours, addr, path, [("X-Positional", "1")], ["p1"]) as ws:
                assert ws.subprotocol is None
                tg.start_soon(raw.send_frame, 1, b"hello")
                assert (await ws.receive()).data == "hello"
                # Leaving the block closes with 1000: answer as a server does.
                tg.start_soon(answer_close, raw, codes)
        line, headers = head_of(heads[0])
        assert line == f"GET {target} HTTP/1.1"
        assert headers["host"] == host
        assert headers["x-positional"] == "1" and headers["sec-websocket-protocol"] == "p1"
    assert codes == [1000]
    assert ws.close_code == 1000


async def test_client_over_tcp_stream(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with open_websocket_client(
                stream, ("127.0.0.1", server.port), "/path?q=1", subprotocols=["echo"]
            ) as ws:
                assert ws.subprotocol == "echo"  # accepted by default, as 0.x did
                await ws.send("over a stream")
                assert (await ws.receive()).data == "over a stream"
                assert ws.remote_address[1] == server.port
            assert ws.close_code == 1000
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
async def test_frames_right_behind_the_101(codec: SimpleNamespace) -> None:
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=False)

    async def eager_server() -> None:
        request = await raw.read_head()
        key = head_of(request)[1]["sec-websocket-key"].encode()
        # The 101 and the first frames in one write.
        await raw.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: "
            + accept_key(key)
            + b"\r\n\r\n"
            + frame(1, b"welcome", key=None)
            + frame(9, b"ping?", key=None)
        )

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(eager_server)
            ws = await create_websocket_client(ours, "localhost", "/")
        # The ping behind the 101 is answered without anyone reading.
        assert await raw.read_frame() == (True, 10, b"ping?")
        assert await ws.receive() == TextMessage("welcome")
        await ws.abort()


async def test_open_websocket_closes_even_when_the_block_fails(codec: SimpleNamespace) -> None:
    record = Recorder()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record)
        with anyio.fail_after(5):
            with pytest.raises(ZeroDivisionError):
                async with open_websocket(server.url) as ws:
                    raise ZeroDivisionError
            assert ws.closed
            await record.done.wait()
        assert record.codes == [1000]
        with pytest.raises(ConnectionClosedOK):
            await ws.send("closed")
        tg.cancel_scope.cancel()
