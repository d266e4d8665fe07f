"""wss:// with certificates made for the test (by ``trustme``), against us and ``websockets``.

Verification stays on everywhere: our client trusts the test CA only when
given a context that does, and checks the host name of the URL against
the certificate (``localhost`` and ``127.0.0.1`` are in it; other names
are not).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.tls import TLSAttribute, TLSStream
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import (
    ConnectionClosed,
    HandshakeError,
    HandshakeTimeout,
    Websocket,
    create_websocket,
    open_websocket,
)

from .helpers import TEST_TIMEOUT, Peer, connect, start_ours

trustme = pytest.importorskip("trustme", reason="trustme is a test dependency: pip install '.[test]'")

pytestmark = pytest.mark.anyio

MIB = 1 << 20
BLOB = bytes(range(256)) * (MIB // 256)
UNICODE = "über TLS ✓ 𝄞 中文"


@pytest.fixture(scope="module")
def pki() -> SimpleNamespace:
    """A CA, server certificates, a client certificate, and the contexts using them."""
    ca = trustme.CA()

    def server_context(*names: str, client_ca: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            ca.configure_trust(context)
        return context

    def client_context(with_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context()  # CERT_REQUIRED, check_hostname
        ca.configure_trust(context)
        if with_cert:
            ca.issue_cert("client.example.test").configure_cert(context)
        return context

    return SimpleNamespace(
        server=server_context("localhost", "127.0.0.1"),
        server_localhost_only=server_context("localhost"),
        server_elsewhere=server_context("elsewhere.test"),
        server_mutual=server_context("localhost", "127.0.0.1", client_ca=True),
        client=client_context(),
        client_with_cert=client_context(with_cert=True),
    )


def caused_by(exc: BaseException, kind: type) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``'s chain of causes, if any."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


# -- our server, our client ---------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_our_wss_server_our_client(codec: SimpleNamespace, pki: SimpleNamespace, host: str) -> None:
    server_side: list[Any] = []

    async def handler(ws: Websocket) -> None:
        tls = ws.transport.extra(TLSAttribute.ssl_object)
        server_side.append(tls.version() if tls is not None else None)
        await echo(ws)
        server_side.append((ws.close_code, ws.close_reason))

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, ssl=pki.server, max_message_size=2 * MIB)
            async with open_websocket(f"wss://{host}:{port}/tls", ssl=pki.client, max_message_size=2 * MIB) as ws:
                tls = ws.transport.extra(TLSAttribute.ssl_object)
                assert tls is not None and tls.version() in ("TLSv1.2", "TLSv1.3")
                # Larger than a TLS record (16 KiB): many records per message.
                for payload in ["secret", UNICODE * 5000, b"", BLOB]:
                    await ws.send(payload)
                    reply = await ws.receive()
                    assert reply == (TextMessage(payload) if isinstance(payload, str) else BytesMessage(payload))
                await ws.send(BLOB[:1000], final=False)
                await ws.send(BLOB[1000:])
                assert await ws.receive() == BytesMessage(BLOB)
                assert await ws.ping() >= 0
                # The close handshake over TLS ends promptly, not at close_timeout.
                with anyio.fail_after(3):
                    await ws.close(4000, "done ✓")
            # Our side reports the peer's close frame: code and reason echoed.
            assert (ws.close_code, ws.close_reason) == (4000, "done ✓")
            with anyio.fail_after(5):
                while len(server_side) < 2:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert server_side[0] in ("TLSv1.2", "TLSv1.3")
    assert server_side[1] == (4000, "done ✓")


@pytest.mark.parametrize("ssl_argument", ["default", "True"])
async def test_default_context_does_not_trust_the_test_ca(
    codec: SimpleNamespace, pki: SimpleNamespace, ssl_argument: str
) -> None:
    """Verification is on by default: a certificate from an unknown CA fails the connection."""
    options = {} if ssl_argument == "default" else {"ssl": True}
    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, echo, ssl=pki.server)
            with pytest.raises(ConnectionError) as raised:
                async with open_websocket(f"wss://localhost:{port}/", open_timeout=5, **options):
                    pass
            error = caused_by(raised.value, ssl.SSLCertVerificationError)
            assert error is not None, repr(raised.value)
            assert (
                "unable to get local issuer certificate" in str(error)
                or "self-signed" in str(error)
                or "self signed" in str(error)
            )
            # The server shrugs off the failed handshake and keeps serving.
            async with open_websocket(f"wss://localhost:{port}/", ssl=pki.client) as ws:
                await ws.send("still serving")
                assert await ws.receive() == TextMessage("still serving")
            tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    "server, host",
    [("server_elsewhere", "localhost"), ("server_localhost_only", "127.0.0.1")],
)
async def test_host_name_is_checked(codec: SimpleNamespace, pki: SimpleNamespace, server: str, host: str) -> None:
    """A trusted certificate for another name is refused: the URL's host is checked."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, echo, ssl=getattr(pki, server))
            with pytest.raises(ConnectionError) as raised:
                async with open_websocket(f"wss://{host}:{port}/", ssl=pki.client, open_timeout=5):
                    pass
            error = caused_by(raised.value, ssl.SSLCertVerificationError)
            assert error is not None, repr(raised.value)
            assert "mismatch" in str(error) or "doesn't match" in str(error), str(error)
            if server == "server_localhost_only":
                # The same certificate is fine under its own name.
                async with open_websocket(f"wss://localhost:{port}/", ssl=pki.client) as ws:
                    await ws.send("by name")
                    assert await ws.receive() == TextMessage("by name")
            tg.cancel_scope.cancel()


async def test_mutual_tls(codec: SimpleNamespace, pki: SimpleNamespace) -> None:
    """A server requiring client certificates sees ours; a client without one gets in nowhere."""
    subjects: list[Any] = []

    async def handler(ws: Websocket) -> None:
        certificate = ws.transport.extra(TLSAttribute.ssl_object).getpeercert()
        subjects.append(certificate.get("subjectAltName"))
        await echo(ws)

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, ssl=pki.server_mutual)
            async with open_websocket(f"wss://localhost:{port}/", ssl=pki.client_with_cert) as ws:
                await ws.send("with a certificate")
                assert await ws.receive() == TextMessage("with a certificate")
            assert subjects == [(("DNS", "client.example.test"),)]

            # Without one the server refuses; with TLS 1.3 the client may only
            # learn that after its side of the handshake, so it may fail
            # while connecting or at its first read.
            with pytest.raises(ConnectionError):
                async with open_websocket(f"wss://localhost:{port}/", ssl=pki.client, open_timeout=5) as ws:
                    await ws.send("no certificate")
                    await ws.receive()
            assert len(subjects) == 1
            tg.cancel_scope.cancel()


async def test_plaintext_and_tls_mismatch_fail_promptly(codec: SimpleNamespace, pki: SimpleNamespace) -> None:
    """ws:// to a TLS server, wss:// to a plain one: errors, not hangs."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tls_port = await start_ours(tg, echo, ssl=pki.server)
            plain_port = await start_ours(tg, echo)
            with anyio.fail_after(4):
                with pytest.raises(HandshakeError):
                    async with open_websocket(f"ws://localhost:{tls_port}/", open_timeout=3):
                        pass
            with anyio.fail_after(4):
                with pytest.raises(HandshakeError) as raised:
                    async with open_websocket(f"wss://localhost:{plain_port}/", ssl=pki.client, open_timeout=3):
                        pass
                assert caused_by(raised.value, ssl.SSLError) is not None, repr(raised.value)
            tg.cancel_scope.cancel()


async def test_failed_tls_handshakes_are_dropped_quietly(
    codec: SimpleNamespace, pki: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    """Clients failing the TLS handshake are dropped without error logs, on every transport.

    A client that distrusts the certificate, one that hangs up at once, one
    speaking plain HTTP: the server just goes on serving.
    """
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, echo, ssl=pki.server)
            with pytest.raises(ConnectionError):
                async with open_websocket(f"wss://localhost:{port}/", open_timeout=5):
                    pass
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.aclose()
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            with anyio.fail_after(5):
                try:
                    while await stream.receive():
                        pass
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
            await stream.aclose()
            async with open_websocket(f"wss://localhost:{port}/", ssl=pki.client) as ws:
                await ws.send("still serving")
                assert await ws.receive() == TextMessage("still serving")
            tg.cancel_scope.cancel()
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert errors == [], [record.getMessage() for record in errors]


# -- with the websockets library --------------------------------------------------------


async def test_our_wss_server_their_client(codec: SimpleNamespace, pki: SimpleNamespace, peer: Peer) -> None:
    closes: list[Any] = []

    async def handler(ws: Websocket) -> None:
        await ws.send("welcome ✓")
        assert await ws.ping(b"ours") >= 0
        await echo(ws)
        closes.append((ws.close_code, ws.close_reason))

    async def client(port: int, context: ssl.SSLContext) -> Any:
        async with connect(f"wss://localhost:{port}/", ssl=context, max_size=2 * MIB) as ws:
            results = [await ws.recv()]
            for payload in [UNICODE, BLOB, b""]:
                await ws.send(payload)
                results.append(await ws.recv() == payload)
            await ws.send([BLOB[:5], BLOB[5:]])
            results.append(await ws.recv() == BLOB)
            results.append(isinstance(await asyncio.wait_for(await ws.ping(b"theirs"), 5), float))
            await ws.close(4001, "their reason")
            return results

    async def untrusting_client(port: int) -> Any:
        try:
            async with connect(f"wss://localhost:{port}/"):
                return None
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_code

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, ssl=pki.server, max_message_size=2 * MIB)
            assert await peer.call(client, port, pki.client) == ["welcome ✓", True, True, True, True, True]
            with anyio.fail_after(5):
                while not closes:
                    await anyio.sleep(0.01)
            assert closes == [(4001, "their reason")]
            # Their default context does not trust our test CA either.
            assert await peer.call(untrusting_client, port) is not None
            tg.cancel_scope.cancel()


async def test_their_wss_server_our_client(codec: SimpleNamespace, pki: SimpleNamespace, peer: Peer) -> None:
    async def handler(ws: Any) -> None:
        async for message in ws:
            if message == "close please":
                await ws.close(4002, "their close ✓")
                break
            await ws.send(message)
        peer.put((ws.close_code, ws.request.path))

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(handler, ssl=pki.server, max_size=2 * MIB)
        for host in ("localhost", "127.0.0.1"):
            async with open_websocket(f"wss://{host}:{port}/theirs", ssl=pki.client, max_message_size=2 * MIB) as ws:
                for payload in [UNICODE, BLOB, ""]:
                    await ws.send(payload)
                    reply = await ws.receive()
                    assert reply.data == payload
                await ws.send(UNICODE, final=False)
                await ws.send(UNICODE)
                assert await ws.receive() == TextMessage(UNICODE * 2)
                assert await ws.ping() >= 0
                await ws.send("close please")
                assert [message async for message in ws] == []
                assert (ws.close_code, ws.close_reason) == (4002, "their close ✓")
                with pytest.raises(ConnectionClosed):
                    await ws.send("too late")
            assert await peer.get() == (4002, "/theirs")
        # Their server's certificate, our default context: refused.
        with pytest.raises(ConnectionError) as raised:
            async with open_websocket(f"wss://localhost:{port}/", open_timeout=5):
                pass
        assert caused_by(raised.value, ssl.SSLCertVerificationError) is not None


async def test_open_timeout_covers_tls_and_handshake_together(pki: SimpleNamespace) -> None:
    """A slow TLS handshake uses up the budget the WebSocket handshake then has."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)

    async def slow_then_silent(stream: SocketStream) -> None:
        await anyio.sleep(1.0)  # the TLS handshake waits ...
        await TLSStream.wrap(stream, server_side=True, ssl_context=pki.server, standard_compatible=False)
        await anyio.sleep_forever()  # ... and the upgrade request is never answered

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, slow_then_silent)
        begin = anyio.current_time()
        with anyio.fail_after(10):
            with pytest.raises(HandshakeTimeout):
                await create_websocket(f"wss://127.0.0.1:{port}/", ssl=pki.client, open_timeout=1.5)
        # One budget of 1.5 s, not 1.5 s for TLS and 1.5 s more for the upgrade.
        assert 1.4 <= anyio.current_time() - begin < 2.3
        tg.cancel_scope.cancel()
