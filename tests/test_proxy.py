"""Connecting through proxies: a real HTTP and SOCKS proxy (pproxy), on asyncio and trio.

One pproxy process serves the whole module on 127.0.0.1, listening as an
open HTTP/SOCKS4/SOCKS5 proxy, as an HTTP/SOCKS5 proxy that wants
credentials, and as an HTTP proxy over TLS (with a certificate from a
``trustme`` authority).  It logs each tunnel it opens (``-v``), so the
tests can tell that a connection really went through it.  Proxies that
misbehave (close mid-``CONNECT``, never answer, refuse) are small raw
servers, since no real proxy does that on purpose.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

from asyncwebsockets import (
    HandshakeError,
    HandshakeTimeout,
    InvalidURI,
    ProxyError,
    Websocket,
    create_websocket,
    open_websocket,
    serve,
)
from asyncwebsockets.client import USER_AGENT
from asyncwebsockets.proxy import parse_proxy, proxy_from_environment
from asyncwebsockets.uri import parse_uri

from .helpers import two_backends

trustme = pytest.importorskip("trustme", reason="trustme is a test dependency: pip install '.[test]'")
pytest.importorskip("pproxy", reason="pproxy is a test dependency: pip install '.[test]'")
pytest.importorskip("python_socks", reason="python-socks is a test dependency: pip install '.[test]'")

pytestmark = pytest.mark.anyio


#: Runs pproxy on a plain asyncio loop: it asks for the current loop before
#: making one, which uvloop (a test dependency) and newer Pythons refuse.
PPROXY = """
import asyncio, sys
sys.modules["uvloop"] = None
asyncio.set_event_loop(asyncio.new_event_loop())
from pproxy.server import main
main(sys.argv[1:])
"""

PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pproxy did not listen on {port}") from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    pem = tmp_path_factory.mktemp("proxy-tls") / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return SimpleNamespace(pem=pem, server=server, client=client)


class Proxies(SimpleNamespace):
    open: int
    auth: int
    tls: int
    log: Path

    def tunnels(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def proxies(pki: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxies]:
    """pproxy: open (HTTP, SOCKS4, SOCKS5), with credentials ann:s3cret (HTTP, SOCKS5), and over TLS."""
    ports = Proxies(open=free_port(), auth=free_port(), tls=free_port())
    ports.log = tmp_path_factory.mktemp("pproxy") / "pproxy.log"
    command = [
        sys.executable, "-u", "-c", PPROXY,
        "-l", f"http+socks4+socks5://127.0.0.1:{ports.open}",
        "-l", f"http+socks5://127.0.0.1:{ports.auth}#ann:s3cret",
        "-l", f"http+ssl://127.0.0.1:{ports.tls}",
        "--ssl", str(pki.pem),
        "--auth", "0",  # ask for credentials on every connection, not once per address
        "-v",
    ]  # fmt: skip
    with open(ports.log, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        for port in (ports.open, ports.auth, ports.tls):
            wait_for_port(port, process, deadline)
        yield ports
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


async def start(tg: Any, **options: Any) -> int:
    server = await tg.start(partial(serve, echo, "127.0.0.1", 0, **options))
    return int(server.port)


async def round_trip(url: str, **options: Any) -> None:
    with anyio.fail_after(10):
        async with open_websocket(url, **options) as ws:
            await ws.send("through the proxy")
            assert (await ws.receive()).data == "through the proxy"


def went_through(proxies: Proxies, port: int) -> bool:
    return re.search(rf"-> \S+:{port}$", proxies.tunnels(), flags=re.M) is not None


# -- through a real proxy --------------------------------------------------------------


@two_backends
@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h", "socks4", "socks4a"])
async def test_ws_through_proxy(proxies: Proxies, scheme: str) -> None:
    async with anyio.create_task_group() as tg:
        port = await start(tg)
        await round_trip(f"ws://127.0.0.1:{port}/", proxy=f"{scheme}://127.0.0.1:{proxies.open}")
        assert went_through(proxies, port)
        tg.cancel_scope.cancel()


@two_backends
@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_wss_through_proxy(proxies: Proxies, pki: SimpleNamespace, scheme: str) -> None:
    """TLS runs end to end through the tunnel, checked against the server's name."""
    async with anyio.create_task_group() as tg:
        port = await start(tg, ssl=pki.server)
        proxy = f"{scheme}://127.0.0.1:{proxies.open}"
        await round_trip(f"wss://localhost:{port}/", ssl=pki.client, proxy=proxy)
        assert went_through(proxies, port)
        # The server's certificate is still verified: the default context
        # does not know the test authority.
        with pytest.raises(HandshakeError) as info:
            with anyio.fail_after(10):
                await create_websocket(f"wss://localhost:{port}/", proxy=proxy)
        assert not isinstance(info.value, ProxyError)
        tg.cancel_scope.cancel()


@two_backends
async def test_https_proxy(proxies: Proxies, pki: SimpleNamespace) -> None:
    """TLS to the proxy, and TLS to the server inside it."""
    async with anyio.create_task_group() as tg:
        port = await start(tg, ssl=pki.server)
        proxy = f"https://127.0.0.1:{proxies.tls}"
        await round_trip(f"wss://127.0.0.1:{port}/", ssl=pki.client, proxy=proxy, proxy_ssl=pki.client)
        assert went_through(proxies, port)
        # The proxy's certificate is verified too.
        with pytest.raises(ProxyError, match="cannot connect to proxy") as info:
            with anyio.fail_after(10):
                await create_websocket(f"wss://127.0.0.1:{port}/", ssl=pki.client, proxy=proxy)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        tg.cancel_scope.cancel()


@two_backends
async def test_http_proxy_credentials(proxies: Proxies) -> None:
    async with anyio.create_task_group() as tg:
        port = await start(tg)
        url = f"ws://127.0.0.1:{port}/"
        for proxy in [f"http://127.0.0.1:{proxies.auth}", f"http://ann:wrong@127.0.0.1:{proxies.auth}"]:
            with pytest.raises(ProxyError) as info:
                with anyio.fail_after(10):
                    await create_websocket(url, proxy=proxy)
            assert info.value.status_code == 407
            assert "407" in str(info.value)
            assert any(name.lower() == b"proxy-authenticate" for name, _ in info.value.headers)
            assert "wrong" not in str(info.value)  # no credentials in messages
        await round_trip(url, proxy=f"http://ann:s3cret@127.0.0.1:{proxies.auth}")
        # Percent-encoded credentials are decoded before they are sent.
        await round_trip(url, proxy=f"http://%61nn:s3cr%65t@127.0.0.1:{proxies.auth}")
        tg.cancel_scope.cancel()


@two_backends
async def test_socks5_credentials(proxies: Proxies) -> None:
    async with anyio.create_task_group() as tg:
        port = await start(tg)
        url = f"ws://127.0.0.1:{port}/"
        with pytest.raises(ProxyError) as info:
            with anyio.fail_after(10):
                await create_websocket(url, proxy=f"socks5://ann:wrong@127.0.0.1:{proxies.auth}")
        assert info.value.status_code is None
        await round_trip(url, proxy=f"socks5://ann:s3cret@127.0.0.1:{proxies.auth}")
        tg.cancel_scope.cancel()


@two_backends
async def test_proxy_cannot_reach_server(proxies: Proxies) -> None:
    """pproxy hangs up when the server is not there: a clear error, at once."""
    with pytest.raises(ProxyError, match="closed the connection before answering CONNECT"):
        with anyio.fail_after(10):
            await create_websocket(f"ws://127.0.0.1:{free_port()}/", proxy=f"http://127.0.0.1:{proxies.open}")


@two_backends
async def test_proxy_from_environment(proxies: Proxies, monkeypatch: pytest.MonkeyPatch) -> None:
    async with anyio.create_task_group() as tg:
        port = await start(tg)
        url = f"ws://127.0.0.1:{port}/"
        # HTTP_PROXY is for ws://: the proxy that wants credentials says so.
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxies.auth}")
        with pytest.raises(ProxyError) as info:
            with anyio.fail_after(10):
                await create_websocket(url)
        assert info.value.status_code == 407
        # proxy=None ignores the environment; so does NO_PROXY for its hosts.
        await round_trip(url, proxy=None)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        await round_trip(url)
        monkeypatch.delenv("NO_PROXY")
        # An explicit proxy wins over the environment.
        await round_trip(url, proxy=f"http://127.0.0.1:{proxies.open}")
        # ALL_PROXY, when nothing more specific is set, here a SOCKS proxy.
        monkeypatch.delenv("HTTP_PROXY")
        monkeypatch.setenv("ALL_PROXY", f"socks5://ann:s3cret@127.0.0.1:{proxies.auth}")
        await round_trip(url)
        tg.cancel_scope.cancel()


# -- proxies that misbehave ------------------------------------------------------------


async def raw_proxy(tg: Any, behave: Callable[[SocketStream], Awaitable[None]]) -> int:
    """A TCP server on 127.0.0.1 running ``behave`` for each connection; its port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)

    async def handle(stream: SocketStream) -> None:
        async with stream:
            await behave(stream)

    tg.start_soon(listener.serve, handle)
    return int(listener.extra(anyio.abc.SocketAttribute.local_port))


async def read_request(stream: SocketStream) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive()
    return head


@two_backends
async def test_proxy_closes_mid_connect() -> None:
    seen: list[bytes] = []

    async def hang_up(stream: SocketStream) -> None:
        seen.append(await read_request(stream))

    async with anyio.create_task_group() as tg:
        port = await raw_proxy(tg, hang_up)
        started = anyio.current_time()
        with pytest.raises(ProxyError, match="closed the connection before answering CONNECT") as info:
            with anyio.fail_after(10):
                await create_websocket("ws://example.test:8080/chat", proxy=f"127.0.0.1:{port}", open_timeout=5)
        assert anyio.current_time() - started < 4
        assert info.value.status_code is None
        assert seen[0].startswith(b"CONNECT example.test:8080 HTTP/1.1\r\n")
        assert b"\r\nhost: example.test:8080\r\n" in seen[0].lower()
        tg.cancel_scope.cancel()


@two_backends
async def test_connect_request_carries_the_handshakes_user_agent() -> None:
    seen: list[bytes] = []

    async def refuse(stream: SocketStream) -> None:
        seen.append(await read_request(stream))
        await stream.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def user_agents(head: bytes) -> list[bytes]:
        lines = head.split(b"\r\n")
        return [line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"user-agent:")]

    async with anyio.create_task_group() as tg:
        proxy = f"http://127.0.0.1:{await raw_proxy(tg, refuse)}"
        for options in [
            {},
            {"user_agent_header": "probe/2.0"},
            {"user_agent_header": None},
            {"headers": {"User-Agent": "mine/1"}},
        ]:
            with pytest.raises(ProxyError):
                with anyio.fail_after(10):
                    await create_websocket("ws://example.test/", proxy=proxy, **options)
        tg.cancel_scope.cancel()
    assert all(head.startswith(b"CONNECT example.test:80 HTTP/1.1\r\n") for head in seen)
    assert [user_agents(head) for head in seen] == [
        [USER_AGENT.encode()],
        [b"probe/2.0"],
        [],
        [b"mine/1"],
    ]


@two_backends
async def test_proxy_closes_mid_response() -> None:
    async def half_answer(stream: SocketStream) -> None:
        await read_request(stream)
        await stream.send(b"HTTP/1.1 200 Conn")

    async with anyio.create_task_group() as tg:
        port = await raw_proxy(tg, half_answer)
        with pytest.raises(ProxyError):
            with anyio.fail_after(10):
                await create_websocket("ws://example.test/", proxy=f"http://127.0.0.1:{port}")
        tg.cancel_scope.cancel()


@two_backends
async def test_proxy_that_never_answers_times_out() -> None:
    async def silence(stream: SocketStream) -> None:
        await read_request(stream)
        await anyio.sleep(30)

    async with anyio.create_task_group() as tg:
        port = await raw_proxy(tg, silence)
        started = anyio.current_time()
        with pytest.raises(HandshakeTimeout):
            with anyio.fail_after(10):
                await create_websocket("ws://example.test/", proxy=f"http://127.0.0.1:{port}", open_timeout=0.5)
        assert anyio.current_time() - started < 3
        tg.cancel_scope.cancel()


@two_backends
@pytest.mark.parametrize(
    "status, reason", [(403, b"Forbidden"), (502, b"Bad Gateway"), (407, b"Proxy Authentication Required")]
)
async def test_proxy_refusal_carries_status(status: int, reason: bytes) -> None:
    async def refuse(stream: SocketStream) -> None:
        await read_request(stream)
        body = b"no tunnel for you\n"
        await stream.send(
            b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nX-Proxy: test\r\n\r\n%s" % (status, reason, len(body), body)
        )

    async with anyio.create_task_group() as tg:
        port = await raw_proxy(tg, refuse)
        with pytest.raises(ProxyError) as info:
            with anyio.fail_after(10):
                await create_websocket("wss://example.test/", proxy=f"http://127.0.0.1:{port}")
        assert info.value.status_code == status
        assert f"HTTP {status} {reason.decode()}" in str(info.value)
        assert (b"x-proxy", b"test") in info.value.headers
        assert isinstance(info.value, HandshakeError) and isinstance(info.value, ConnectionError)
        tg.cancel_scope.cancel()


@two_backends
async def test_proxy_not_listening() -> None:
    with pytest.raises(ProxyError, match="cannot connect"):
        with anyio.fail_after(10):
            await create_websocket("ws://example.test/", proxy=f"socks5://127.0.0.1:{free_port()}")
    with pytest.raises(ProxyError, match="cannot connect to proxy"):
        with anyio.fail_after(10):
            await create_websocket("ws://example.test/", proxy=f"http://127.0.0.1:{free_port()}")


# -- no I/O ----------------------------------------------------------------------------


def test_parse_proxy() -> None:
    assert parse_proxy("http://u:p%40ss@proxy.test:3128") == parse_proxy("proxy.test:3128").__class__(
        "http", "proxy.test", 3128, "u", "p@ss"
    )
    assert parse_proxy("proxy.test").port == 80
    assert parse_proxy("https://proxy.test").port == 443
    assert parse_proxy("SOCKS5H://[::1]").host == "::1"
    assert parse_proxy("socks4a://proxy.test").port == 1080
    assert str(parse_proxy("http://u:secret@proxy.test:3128")) == "http://proxy.test:3128"
    for bad in ["ftp://proxy.test", "http://", "http://proxy.test:99999", "socks6://proxy.test"]:
        with pytest.raises(InvalidURI):
            parse_proxy(bad)


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_bad_proxy_url_fails_before_io() -> None:
    with pytest.raises(InvalidURI):
        await create_websocket("ws://127.0.0.1:1/", proxy="ftp://proxy.test")


def test_environment_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    ws, wss = parse_uri("ws://server.test/"), parse_uri("wss://server.test/")
    assert proxy_from_environment(ws) is None and proxy_from_environment(wss) is None
    monkeypatch.setenv("HTTP_PROXY", "http://plain.test:3128")
    assert proxy_from_environment(ws) == "http://plain.test:3128"
    assert proxy_from_environment(wss) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://secure.test:3128")
    assert proxy_from_environment(wss) == "http://secure.test:3128"
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("all_proxy", "socks5://all.test")
    assert proxy_from_environment(ws) == "socks5://all.test"
    monkeypatch.setenv("NO_PROXY", ".test")
    assert proxy_from_environment(ws) is None and proxy_from_environment(wss) is None
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_from_environment(ws) is None
    monkeypatch.setenv("NO_PROXY", "other.test")
    assert proxy_from_environment(ws) == "socks5://all.test"


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_socks_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ImportError, match=r"asyncwebsockets\[socks\]"):
        await create_websocket("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1")


def test_environment_is_clean_here() -> None:
    """conftest.py keeps a developer's own proxy settings out of these tests."""
    assert not any(os.environ.get(name) or os.environ.get(name.upper()) for name in PROXY_ENV)
