"""Against an independent implementation: the ``websockets`` library.

It runs on its own asyncio loop in a worker thread, so the same tests run
with our side on asyncio and on trio.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Iterator, List, Optional, Tuple

import anyio
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsClosed
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import Websocket, open_websocket, serve

pytestmark = pytest.mark.anyio

BIG = 4 << 20


class PeerServer:
    """A ``websockets`` server on a private loop in a thread."""

    def __init__(self, handler: Callable[[Any], Awaitable[None]], **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.stop: Optional[asyncio.Future[None]] = None
        self.thread = threading.Thread(target=self._run, args=(handler, options), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self, handler: Any, options: Any) -> None:
        async def main() -> None:
            self.stop = asyncio.get_running_loop().create_future()
            async with ws_serve(handler, "127.0.0.1", 0, **options) as server:
                self.port = list(server.sockets)[0].getsockname()[1]
                self.ready.set()
                await self.stop

        self.loop.run_until_complete(main())
        self.loop.close()

    def close(self) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set_result, None)
        self.thread.join(10)


@pytest.fixture
def peer_server() -> Iterator[Callable[..., PeerServer]]:
    servers: List[PeerServer] = []

    def make(handler: Callable[[Any], Awaitable[None]], **options: Any) -> PeerServer:
        server = PeerServer(handler, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


async def peer_echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def run_peer_client(coro_factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run a ``websockets`` client coroutine on its own loop in a thread."""
    return await anyio.to_thread.run_sync(lambda: asyncio.run(asyncio.wait_for(coro_factory(), 30)))


# -- our client, their server ----------------------------------------------


@pytest.mark.parametrize("payload", ["text", "", "ünïcødé ✓ 𝄞", b"", b"\x00\xff", os.urandom(BIG)])
async def test_our_client_their_server(codec: SimpleNamespace, peer_server: Any, payload: Any) -> None:
    server = peer_server(peer_echo, max_size=BIG + 1)
    async with open_websocket(f"ws://127.0.0.1:{server.port}/", max_message_size=BIG + 1) as ws:
        await ws.send(payload)
        reply = await ws.receive()
        assert reply.data == payload
        assert isinstance(reply, TextMessage if isinstance(payload, str) else BytesMessage)
        await ws.send("frag", final=False)
        await ws.send("ments")
        assert (await ws.receive()).data == "fragments"
        assert await ws.ping() >= 0
    assert ws.close_code == 1000


async def test_their_fragments_pings_and_close(codec: SimpleNamespace, peer_server: Any) -> None:
    async def talker(ws: Any) -> None:
        await ws.send(["frag", "ment", "ed ✓"])  # an iterable is sent in fragments
        await ws.send([b"a", b"b"])
        pong = await ws.ping(b"from them")
        await asyncio.wait_for(pong, 10)
        await ws.send("pong seen")
        await ws.close(4000, "their reason")

    server = peer_server(talker)
    async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
        messages = [m.data async for m in ws]
    assert messages == ["fragmented ✓", b"ab", "pong seen"]
    assert (ws.close_code, ws.close_reason) == (4000, "their reason")


async def test_subprotocol_with_their_server(codec: SimpleNamespace, peer_server: Any) -> None:
    server = peer_server(peer_echo, subprotocols=["b", "a"])
    async with open_websocket(f"ws://127.0.0.1:{server.port}/", subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol in ("a", "b")


# -- their client, our server ----------------------------------------------


async def our_echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


async def test_their_client_our_server(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(our_echo, "127.0.0.1", 0, max_message_size=BIG + 1, task_status=task_status))
        big = os.urandom(BIG)

        async def client() -> Tuple[Any, ...]:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/", max_size=BIG + 1) as ws:
                results = []
                for payload in ("hello", "", "ünï ✓", b"", b"\x01\x02", big):
                    await ws.send(payload)
                    results.append(await ws.recv() == payload)
                await ws.send(["fr", "ag"])
                results.append(await ws.recv() == "frag")
                latency = await asyncio.wait_for(await ws.ping(b"p"), 10)
                results.append(latency is not None or True)
                await ws.close(1001, "going")
                return tuple(results), ws.close_code

        results, code = await run_peer_client(client)
        assert all(results), results
        assert code == 1001
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("code, reason", [(1000, "bye"), (1001, ""), (4000, "app-specific ✓")])
async def test_our_server_closes_their_client(codec: SimpleNamespace, code: int, reason: str) -> None:
    async def closer(ws: Websocket) -> None:
        await ws.send("before close")
        await ws.close(code, reason)

    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(closer, "127.0.0.1", 0, task_status=task_status))

        async def client() -> Any:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                first = await ws.recv()
                try:
                    await ws.recv()
                except WsClosed as exc:
                    return first, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else None
            return first, None, None

        assert await run_peer_client(client) == ("before close", code, reason)
        tg.cancel_scope.cancel()


async def test_subprotocol_with_their_client(codec: SimpleNamespace) -> None:
    async def report(ws: Websocket) -> None:
        await ws.send(str(ws.subprotocol))

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve(report, "127.0.0.1", 0, subprotocols=["v2", "v3"], task_status=task_status)
        )

        async def client() -> Any:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["v1", "v3"]) as ws:
                return ws.subprotocol, await ws.recv()

        assert await run_peer_client(client) == ("v3", "v3")
        tg.cancel_scope.cancel()


# -- TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> SimpleNamespace:
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency: pip install '.[test]'")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return SimpleNamespace(server=server_ctx, client=client_ctx)


async def test_tls_our_client_our_server(codec: SimpleNamespace, tls: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(our_echo, "127.0.0.1", 0, ssl=tls.server, task_status=task_status))
        async with open_websocket(f"wss://localhost:{server.port}/", ssl=tls.client) as ws:
            await ws.send("secret")
            assert (await ws.receive()).data == "secret"
        # The default context does not trust our test CA: verification is on.
        with pytest.raises((ConnectionError, ssl.SSLError)):
            async with open_websocket(f"wss://localhost:{server.port}/"):
                pass
        tg.cancel_scope.cancel()


async def test_tls_their_client_our_server(codec: SimpleNamespace, tls: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(our_echo, "127.0.0.1", 0, ssl=tls.server, task_status=task_status))

        async def client() -> Any:
            async with ws_connect(f"wss://localhost:{server.port}/", ssl=tls.client) as ws:
                await ws.send(b"over tls")
                return await ws.recv()

        assert await run_peer_client(client) == b"over tls"
        tg.cancel_scope.cancel()


async def test_tls_our_client_their_server(codec: SimpleNamespace, tls: SimpleNamespace, peer_server: Any) -> None:
    server = peer_server(peer_echo, ssl=tls.server)
    async with open_websocket(f"wss://localhost:{server.port}/", ssl=tls.client) as ws:
        await ws.send("tls both ways")
        assert (await ws.receive()).data == "tls both ways"
