"""Interoperability with an independent implementation, the ``websockets`` library.

Their side always runs on its own asyncio event loop in a worker thread
(:class:`Peer`), so every test runs unchanged with our side on asyncio and
on trio.  Both directions are covered: their client against our server and
our client against their server.  A conforming peer never breaks the
protocol, so the last part speaks raw bytes to our server and client to
check the close frames they answer violations with (1002, 1007, 1009).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosed as TheirClosed
from websockets.exceptions import InvalidStatus
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import (
    ConnectionClosed,
    HandshakeRejected,
    Reject,
    Websocket,
    open_websocket,
    serve,
)

from .helpers import (
    BIG,
    BIG_BINARY,
    LIMIT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    PAYLOADS,
    TEST_TIMEOUT,
    Peer,
    accept_key,
    as_message,
    close_payload,
    connect,
    frame,
    start_ours,
)

pytestmark = pytest.mark.anyio


# -- our client, their server -------------------------------------------------------


async def test_our_client_messages_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Every kind of message we send arrives whole and intact at theirs, and back."""

    async def echo(ws: Any) -> None:
        async for message in ws:
            peer.put(message)
            await ws.send(message)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(echo, max_size=LIMIT)
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=LIMIT) as ws:
            for payload in PAYLOADS:
                await ws.send(payload)
                assert await peer.get() == payload
                assert await ws.receive() == as_message(payload)

            # Fragments we send with final=False arrive as one message.
            fragmented: list[tuple[list[Any], Any]] = [
                (["frag", "mént", "ed ✓"], "fragménted ✓"),
                (["", "only the last fragment has data"], "only the last fragment has data"),
                ([b"ab", b"", b"cd"], b"abcd"),
                ([BIG_BINARY[i : i + (1 << 20)] for i in range(0, BIG, 1 << 20)], BIG_BINARY),
            ]
            for pieces, whole in fragmented:
                for piece in pieces[:-1]:
                    await ws.send(piece, final=False)
                await ws.send(pieces[-1])
                assert await peer.get() == whole
                assert await ws.receive() == as_message(whole)
        assert (ws.close_code, ws.close_reason) == (1000, "")


async def test_their_fragments_reach_our_client(codec: SimpleNamespace, peer: Peer) -> None:
    """They fragment a message when given an iterable; we see it whole."""

    async def talker(ws: Any) -> None:
        await ws.send(["frag", "ment", "ed ✓ 𝄞"])
        await ws.send([b"a", b"", b"bc"])
        chunk = 1 << 19

        async def pieces() -> Any:
            for start in range(0, BIG, chunk):
                yield BIG_BINARY[start : start + chunk]

        await ws.send(pieces())
        await ws.send("é" * 1000 for _ in range(300))
        await ws.send("done")
        await ws.wait_closed()
        peer.put((ws.close_code, ws.close_reason))

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(talker, max_size=LIMIT)
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=LIMIT) as ws:
            received = []
            async for message in ws:
                received.append(message)
                if message == TextMessage("done"):
                    break
        assert received == [
            TextMessage("fragmented ✓ 𝄞"),
            BytesMessage(b"abc"),
            BytesMessage(BIG_BINARY),
            TextMessage("é" * 300_000),
            TextMessage("done"),
        ]
        assert await peer.get() == (1000, "")


async def test_pings_our_client_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Our ping() is answered by them; their ping is answered by us."""

    async def pinger(ws: Any) -> None:
        await ws.recv()  # "ping me"
        latency = await asyncio.wait_for(await ws.ping(b"their ping"), 5)
        peer.put(latency)
        await ws.send("pong seen")
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(pinger)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            assert await ws.ping() >= 0
            assert await ws.ping(b"our payload") >= 0
            assert await ws.ping(b"\x00" * 125) >= 0  # the largest control payload
            await ws.send("ping me")
            # We answer their ping while we wait for their next message.
            assert await ws.receive() == TextMessage("pong seen")
            assert isinstance(await peer.get(), float)


#: Keepalive settings: a ping after 0.1 s of silence, the connection failed
#: if nothing answers within 0.3 s; the peers stay silent for QUIET seconds.
KEEPALIVE = {"ping_interval": 0.1, "ping_timeout": 0.3}
QUIET = 0.5


async def test_keepalive_pings_our_client_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Keepalive pings are answered both ways: silent but live connections stay open.

    Two connections at once: on one only they send keepalive pings (they
    need our pongs), on the other only we do.
    """

    async def quiet(ws: Any) -> None:
        await asyncio.sleep(QUIET)
        await ws.send("still open")
        await ws.wait_closed()
        peer.put((ws.close_code, ws.close_reason))

    codes: list[Any] = []

    async def our_client(port: int, options: dict[str, Any]) -> None:
        async with open_websocket(f"ws://127.0.0.1:{port}/", **options) as ws:
            assert await ws.receive() == TextMessage("still open")
        codes.append(ws.close_code)

    with anyio.fail_after(TEST_TIMEOUT):
        their_keepalive = await peer.server(quiet, **KEEPALIVE)
        their_silence = await peer.server(quiet, ping_interval=None)
        async with anyio.create_task_group() as tg:
            tg.start_soon(our_client, their_keepalive, {"ping_interval": None})
            tg.start_soon(our_client, their_silence, KEEPALIVE)
        assert codes == [1000, 1000]
        assert [await peer.get(), await peer.get()] == [(1000, ""), (1000, "")]


CLOSES = [(1000, "bye"), (1001, ""), (4000, "app-specific reason ✓"), (3000, "x" * 123)]


@pytest.mark.parametrize("code, reason", CLOSES)
async def test_our_client_closes_their_server(codec: SimpleNamespace, peer: Peer, code: int, reason: str) -> None:
    async def waiter(ws: Any) -> None:
        try:
            await ws.recv()
        except TheirClosed as exc:
            peer.put((exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None)
        peer.put((ws.close_code, ws.close_reason))

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(waiter)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            await ws.close(code, reason)
        assert (ws.close_code, ws.close_reason) == (code, reason)
        assert await peer.get() == (code, reason)
        assert await peer.get() == (code, reason)


@pytest.mark.parametrize("code, reason", CLOSES)
async def test_their_server_closes_our_client(codec: SimpleNamespace, peer: Peer, code: int, reason: str) -> None:
    async def closer(ws: Any) -> None:
        await ws.send("last words")
        await ws.close(code, reason)
        peer.put((ws.close_code, ws.close_reason))

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(closer)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            assert [message async for message in ws] == [TextMessage("last words")]
            assert (ws.close_code, ws.close_reason) == (code, reason)
            with pytest.raises(ConnectionClosed) as raised:
                await ws.receive()
            assert (raised.value.code, raised.value.reason) == (code, reason)
        # Their close_code/close_reason are our reply's: code and reason echoed.
        assert await peer.get() == (code, reason)


async def test_our_close_without_code(codec: SimpleNamespace, peer: Peer) -> None:
    """close(None) sends an empty close frame: 1005 on both sides."""

    async def waiter(ws: Any) -> None:
        await ws.wait_closed()
        peer.put(ws.close_code)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(waiter)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            await ws.close(None)
        assert ws.close_code == 1005
        assert await peer.get() == 1005


async def test_subprotocol_our_client_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    async def report(ws: Any) -> None:
        peer.put(ws.subprotocol)
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        # They pick the first of their own list that we offer.
        port = await peer.server(report, subprotocols=["chat.v2", "chat.v1"])
        async with open_websocket(f"ws://127.0.0.1:{port}/", subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert await peer.get() == "chat.v2"
        # Offering nothing they support: they refuse with HTTP 400.
        with pytest.raises(HandshakeRejected) as rejected:
            async with open_websocket(f"ws://127.0.0.1:{port}/", subprotocols=["other"]):
                pass
        assert rejected.value.status_code == 400


async def test_request_details_and_rejection_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    def gate(connection: Any, request: Any) -> Any:
        if request.path.startswith("/forbidden"):
            return connection.respond(HTTPStatus.FORBIDDEN, "not for you\n")
        return None

    async def report(ws: Any) -> None:
        headers = ws.request.headers
        peer.put((ws.request.path, headers.get("X-Interop"), headers.get("Origin"), ws.protocol.extensions))
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(report, process_request=gate)
        url = f"ws://127.0.0.1:{port}/chat/room?x=1%202&y=é"
        async with open_websocket(url, headers=[("X-Interop", "ours ✓".encode())], origin="https://example.test"):
            path, interop, origin, extensions = await peer.get()
        assert path == "/chat/room?x=1%202&y=%C3%A9"
        # The bytes arrived intact; how the peer's version turns non-ASCII
        # header bytes into str (latin-1 or surrogate escapes) varies.
        try:
            raw = interop.encode("latin-1")
        except UnicodeEncodeError:
            raw = interop.encode("ascii", "surrogateescape")
        assert raw == "ours ✓".encode()
        assert origin == "https://example.test"
        assert extensions == []

        with pytest.raises(HandshakeRejected) as rejected:
            async with open_websocket(f"ws://127.0.0.1:{port}/forbidden"):
                pass
        assert rejected.value.status_code == 403
        assert rejected.value.body == b"not for you\n"


async def test_our_client_their_server_max_size(codec: SimpleNamespace, peer: Peer) -> None:
    """Their limit: a message over it is refused by them with 1009."""

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            # They fail the connection without waiting for our reply, so
            # their close_code is 1006; the code they sent is in close_sent.
            sent = ws.protocol.close_sent
            peer.put(sent.code if sent else None)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(echo, max_size=1000)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(b"x" * 1000)
            assert await ws.receive() == BytesMessage(b"x" * 1000)
            await ws.send(b"x" * 1001)
            assert [message async for message in ws] == []
            assert ws.close_code == 1009
        assert await peer.get() == 1009


# -- their client, our server -------------------------------------------------------


async def test_their_client_messages_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Their messages (whole and fragmented) reach our server; our fragments reach them whole."""
    seen: list[Any] = []

    async def handler(ws: Websocket) -> None:
        async for message in ws:
            seen.append(message)
            if message == TextMessage("your fragments, please"):
                for piece in ["our ", "frag", "ménts ✓"]:
                    await ws.send(piece, final=piece.endswith("✓"))
                await ws.send(b"", final=False)
                await ws.send(b"\x01", final=False)
                await ws.send(b"\x02")
                for start in range(0, BIG, 1 << 20):
                    await ws.send(BIG_BINARY[start : start + (1 << 20)], final=start + (1 << 20) >= BIG)
            else:
                await ws.send(message.data)

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/", max_size=LIMIT) as ws:
            echoes = []
            for payload in PAYLOADS:
                await ws.send(payload)
                echoes.append(await ws.recv() == payload)
            await ws.send(["th", "eir ", "fragments ✓"])
            echoes.append(await ws.recv() == "their fragments ✓")
            await ws.send([b"\x00", b"", b"\xff"])
            echoes.append(await ws.recv() == b"\x00\xff")
            await ws.send("your fragments, please")
            ours = [await ws.recv(), await ws.recv(), await ws.recv()]
            extensions = ws.protocol.extensions
        return echoes, ours, extensions, ws.close_code

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, max_message_size=LIMIT)
            echoes, ours, extensions, close_code = await peer.call(client, port)
            tg.cancel_scope.cancel()
    assert all(echoes), echoes
    assert ours == ["our fragménts ✓", b"\x01\x02", BIG_BINARY]
    assert seen[: len(PAYLOADS)] == [as_message(p) for p in PAYLOADS]
    assert seen[len(PAYLOADS) :] == [
        TextMessage("their fragments ✓"),
        BytesMessage(b"\x00\xff"),
        TextMessage("your fragments, please"),
    ]
    assert extensions == []  # they offered permessage-deflate; we declined
    assert close_code == 1000


async def test_pings_their_client_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Their ping is answered by our server; our server's ping() by them."""
    latencies: list[float] = []

    async def handler(ws: Websocket) -> None:
        latencies.append(await ws.ping(b"server ping"))
        await ws.send("pinged you")
        async for message in ws:
            await ws.send(message.data)

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            first = await ws.recv()
            their = [await asyncio.wait_for(await ws.ping(payload), 5) for payload in (b"", b"abc", b"p" * 125)]
            await ws.send("after pings")
            return first, their, await ws.recv()

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            first, theirs, echo = await peer.call(client, port)
            tg.cancel_scope.cancel()
    assert first == "pinged you"
    assert all(isinstance(latency, float) for latency in theirs)
    assert echo == "after pings"
    assert len(latencies) == 1 and latencies[0] >= 0


async def test_keepalive_pings_their_client_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    """As above, with our server: one connection pinged by them, one by us."""

    async def handler(ws: Websocket) -> None:
        # Reading (so we answer pings, and send ours) while nothing comes.
        with anyio.move_on_after(QUIET):
            async for _ in ws:
                pass
        await ws.send("still open")
        async for _ in ws:
            pass

    async def client(port: int, options: dict[str, Any]) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/", **options) as ws:
            return await ws.recv(), ws.protocol.close_code

    async def clients(our_keepalive: int, our_silence: int) -> Any:
        return await asyncio.gather(client(our_keepalive, {"ping_interval": None}), client(our_silence, KEEPALIVE))

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            our_keepalive = await start_ours(tg, handler, **KEEPALIVE)
            our_silence = await start_ours(tg, handler, ping_interval=None)
            assert await peer.call(clients, our_keepalive, our_silence) == [("still open", None)] * 2
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("code, reason", CLOSES)
async def test_our_server_closes_their_client(codec: SimpleNamespace, peer: Peer, code: int, reason: str) -> None:
    ours: list[Any] = []
    done = anyio.Event()

    async def handler(ws: Websocket) -> None:
        await ws.send("last words")
        await ws.close(code, reason)
        ours.append((ws.close_code, ws.close_reason))
        done.set()

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            first = await ws.recv()
            try:
                await ws.recv()
            except TheirClosed as exc:
                rcvd = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None
            return first, rcvd, (ws.close_code, ws.close_reason)

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            first, rcvd, theirs = await peer.call(client, port)
            await done.wait()
            tg.cancel_scope.cancel()
    assert first == "last words"
    assert rcvd == theirs == (code, reason)
    assert ours == [(code, reason)]


@pytest.mark.parametrize("code, reason", CLOSES)
async def test_their_client_closes_our_server(codec: SimpleNamespace, peer: Peer, code: int, reason: str) -> None:
    ours: list[Any] = []
    done = anyio.Event()

    async def handler(ws: Websocket) -> None:
        messages = [message async for message in ws]
        ours.append((messages, ws.close_code, ws.close_reason))
        with pytest.raises(ConnectionClosed) as raised:
            await ws.receive()
        ours.append((raised.value.code, raised.value.reason))
        done.set()

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("first")
            await ws.close(code, reason)
            return ws.close_code, ws.close_reason

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            theirs = await peer.call(client, port)
            await done.wait()
            tg.cancel_scope.cancel()
    assert theirs == (code, reason)  # our reply echoes the code and the reason
    assert ours == [([TextMessage("first")], code, reason), (code, reason)]


async def test_our_server_shutdown_closes_their_client_with_1001(codec: SimpleNamespace, peer: Peer) -> None:
    """Cancelling serve() closes open connections with 1001 ("going away")."""
    accepted = anyio.Event()

    async def handler(ws: Websocket) -> None:
        accepted.set()
        async for _ in ws:
            pass

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            try:
                await ws.recv()
            except TheirClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    result: list[Any] = []
    server_scope = anyio.CancelScope()

    async def run_server(task_status: Any) -> None:
        with server_scope:
            await serve(handler, "127.0.0.1", 0, task_status=task_status)

    async def run_client(port: int) -> None:
        result.append(await peer.call(client, port))

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            server = await tg.start(run_server)
            tg.start_soon(run_client, server.port)
            await accepted.wait()
            server_scope.cancel()
    assert result == [1001]


async def test_subprotocol_their_client_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    chosen: list[Any] = []

    async def handler(ws: Websocket) -> None:
        chosen.append(ws.subprotocol)
        await ws.send(str(ws.subprotocol))

    async def client(port: int, offer: list[str]) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/", subprotocols=offer) as ws:
            return ws.subprotocol, await ws.recv()

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, subprotocols=["v3", "v2"])
            # We pick the first of their offers that we support.
            assert await peer.call(client, port, ["v1", "v2", "v3"]) == ("v2", "v2")
            # Nothing in common: accepted without a subprotocol.
            assert await peer.call(client, port, ["v9"]) == (None, "None")
            tg.cancel_scope.cancel()
    assert chosen == ["v2", None]


async def test_request_details_and_rejection_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    requests: list[Any] = []

    async def gate(request: Any) -> Any:
        if request.target.startswith("/forbidden"):
            return Reject(403, [("X-Why", "testing")], "not for you\n")
        return True

    async def handler(ws: Websocket) -> None:
        assert ws.request is not None
        headers = {name.lower(): value for name, value in ws.request_headers}
        requests.append((ws.request.target, headers.get(b"x-interop"), headers.get(b"origin")))
        await ws.send("hi")

    async def client(port: int) -> Any:
        async with connect(
            f"ws://127.0.0.1:{port}/chat/room?x=1%202",
            additional_headers={"X-Interop": "theirs"},
            origin="https://example.test",
        ) as ws:
            greeting = await ws.recv()
        try:
            async with connect(f"ws://127.0.0.1:{port}/forbidden"):
                pass
        except InvalidStatus as exc:
            response = exc.response
            return greeting, response.status_code, response.headers.get("X-Why"), response.body
        return greeting, None, None, None

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, filter=gate)
            result = await peer.call(client, port)
            tg.cancel_scope.cancel()
    assert result == ("hi", 403, "testing", b"not for you\n")
    assert requests == [("/chat/room?x=1%202", b"theirs", b"https://example.test")]


async def test_their_client_our_server_max_size(codec: SimpleNamespace, peer: Peer) -> None:
    """Our limit: their message over it is refused with 1009, which they see."""
    ours: list[Any] = []
    done = anyio.Event()

    async def handler(ws: Websocket) -> None:
        async for message in ws:
            await ws.send(message.data)
        ours.append(ws.close_code)
        done.set()

    async def client(port: int) -> Any:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(b"y" * 1000)
            echo = await ws.recv()
            await ws.send(b"y" * 1001)
            try:
                await ws.recv()
            except TheirClosed as exc:
                return len(echo), exc.rcvd.code if exc.rcvd else None

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, max_message_size=1000)
            assert await peer.call(client, port) == (1000, 1009)
            await done.wait()
            tg.cancel_scope.cancel()
    assert ours == [1009]


async def test_many_concurrent_their_clients(codec: SimpleNamespace, peer: Peer) -> None:
    """Twenty of their clients at once, interleaving with each other on our server."""

    async def handler(ws: Websocket) -> None:
        async for message in ws:
            await ws.send(message.data)

    async def one(port: int, number: int) -> bool:
        async with connect(f"ws://127.0.0.1:{port}/{number}") as ws:
            for i in range(20):
                payload = f"{number}:{i}:" + "é" * (i * 100)
                await ws.send(payload)
                if await ws.recv() != payload:
                    return False
        return True

    async def clients(port: int) -> list[bool]:
        return list(await asyncio.gather(*(one(port, n) for n in range(20))))

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            assert await peer.call(clients, port) == [True] * 20
            tg.cancel_scope.cancel()


# -- raw bytes: what conforming peers never send ---------------------------------------

RAW_LIMIT = 1024


class RawPeer:
    """A byte stream with a frame parser, for the raw tests."""

    def __init__(self, stream: Any, buffered: bytes = b"") -> None:
        self.stream = stream
        self.buffer = buffered

    async def _fill(self) -> bool:
        try:
            self.buffer += await self.stream.receive()
            return True
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not await self._fill():
                raise AssertionError(f"connection ended before {marker!r}: {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    async def _need(self, n: int) -> bool:
        while len(self.buffer) < n:
            if not await self._fill():
                return False
        return True

    async def read_frame(self) -> tuple[int, bool, bool, bytes] | None:
        """(opcode, fin, masked, unmasked payload), or None at EOF."""
        if not await self._need(2):
            assert self.buffer == b"", f"connection ended inside a frame header: {self.buffer!r}"
            return None
        b0, b1 = self.buffer[0], self.buffer[1]
        n, offset = b1 & 0x7F, 2
        if n == 126:
            assert await self._need(4)
            n, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif n == 127:
            assert await self._need(10)
            n, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            assert await self._need(offset + 4)
            key, offset = self.buffer[offset : offset + 4], offset + 4
        assert await self._need(offset + n), "connection ended inside a frame"
        payload, self.buffer = self.buffer[offset : offset + n], self.buffer[offset + n :]
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return b0 & 0x0F, bool(b0 & 0x80), masked, payload

    async def frames_until_close(self) -> tuple[list[tuple[int, bytes]], tuple[int, bytes], bool]:
        """Frames before the close frame, the close frame's (code, reason), and whether it was masked."""
        before = []
        while True:
            got = await self.read_frame()
            assert got is not None, f"EOF without a close frame; frames so far: {before}"
            opcode, fin, masked, payload = got
            if opcode == OP_CLOSE:
                assert fin
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return before, (code, payload[2:]), masked
            before.append((opcode, payload))

    async def expect_eof(self, timeout: float = 5.0) -> None:
        with anyio.fail_after(timeout):
            assert await self.read_frame() is None


async def raw_client(port: int, path: str = "/") -> RawPeer:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    await stream.send(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".encode()
        + b"Sec-WebSocket-Key: "
        + key
        + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    raw = RawPeer(stream)
    head = await raw.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
    assert {name.strip().lower(): value.strip() for name, value in headers.items()}[
        b"sec-websocket-accept"
    ] == accept_key(key)
    return raw


# Each case is sent after a valid text message "ok"; the server must echo
# "ok" (messages before a violation still count), then close with the code.
VIOLATIONS: dict[str, tuple[bytes, int]] = {
    "rsv1 without extension": (frame(OP_TEXT, b"x", rsv=0x40), 1002),
    "rsv2 and rsv3": (frame(OP_BINARY, b"x", rsv=0x30), 1002),
    "unmasked client frame": (frame(OP_TEXT, b"x", key=None), 1002),
    "reserved data opcode 3": (frame(0x3, b"x"), 1002),
    "reserved control opcode 0xB": (frame(0xB, b""), 1002),
    "fragmented ping": (frame(OP_PING, b"p", fin=False), 1002),
    "ping payload over 125": (frame(OP_PING, b"p" * 126), 1002),
    "close payload over 125": (frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002),
    "continuation without a start": (frame(OP_CONT, b"x"), 1002),
    "new message inside a fragmented one": (frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),
    "close frame with a 1-byte payload": (frame(OP_CLOSE, b"\x03"), 1002),
    "close code 999": (frame(OP_CLOSE, close_payload(999)), 1002),
    "close code 1005 on the wire": (frame(OP_CLOSE, close_payload(1005)), 1002),
    "close code 1006 on the wire": (frame(OP_CLOSE, close_payload(1006)), 1002),
    "close code 1016 (unassigned)": (frame(OP_CLOSE, close_payload(1016)), 1002),
    "close code 5000": (frame(OP_CLOSE, close_payload(5000)), 1002),
    "64-bit length with the top bit set": (frame(OP_BINARY, b"", length=1 << 63), 1002),
    "invalid UTF-8 byte": (frame(OP_TEXT, b"abc\xff"), 1007),
    "overlong encoding": (frame(OP_TEXT, b"\xc0\xaf"), 1007),
    "UTF-16 surrogate": (frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    "code point over U+10FFFF": (frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007),
    "invalid UTF-8 across fragments": (frame(OP_TEXT, "ü".encode()[:1], fin=False) + frame(OP_CONT, b"\x28"), 1007),
    "truncated character at message end": (frame(OP_TEXT, "𝄞".encode()[:3]), 1007),
    "invalid UTF-8 in a close reason": (frame(OP_CLOSE, close_payload(1000, b"\xff")), 1007),
    "oversize binary frame": (frame(OP_BINARY, b"b" * (RAW_LIMIT + 1)), 1009),
    "oversize text frame": (frame(OP_TEXT, b"t" * (RAW_LIMIT + 1)), 1009),
    "oversize fragmented message": (
        b"".join(frame(OP_CONT if i else OP_BINARY, b"f" * 400, fin=i == 2) for i in range(3)),
        1009,
    ),
    "oversize length declared, payload never sent": (frame(OP_BINARY, b"", length=1 << 40), 1009),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
async def test_raw_violation_our_server_closes_with_code(codec: SimpleNamespace, case: str) -> None:
    bad, expected = VIOLATIONS[case]
    seen: list[Any] = []
    done = anyio.Event()

    async def handler(ws: Websocket) -> None:
        try:
            async for message in ws:
                seen.append(message)
                await ws.send(message.data)
        finally:
            seen.append(ws.close_code)
            done.set()

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, max_message_size=RAW_LIMIT)
            raw = await raw_client(port)
            try:
                await raw.stream.send(frame(OP_TEXT, b"ok") + bad)
                before, (code, reason), masked = await raw.frames_until_close()
                assert before == [(OP_TEXT, b"ok")]
                assert code == expected, (code, reason)
                assert not masked
                reason.decode("utf-8")  # a valid reason, if any
                # Our server closes the TCP connection after its close frame.
                await raw.expect_eof()
            finally:
                await raw.stream.aclose()
            await done.wait()
            tg.cancel_scope.cancel()
    assert seen == [TextMessage("ok"), expected]


async def test_raw_valid_edge_cases_our_server(codec: SimpleNamespace) -> None:
    """Legal but unusual: a character split between fragments, control frames between them."""

    async def handler(ws: Websocket) -> None:
        async for message in ws:
            await ws.send(message.data)

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            raw = await raw_client(port)
            try:
                clef = "𝄞".encode()
                await raw.stream.send(
                    frame(OP_TEXT, b"a" + clef[:1], fin=False)
                    + frame(OP_PING, b"between")
                    + frame(OP_CONT, clef[1:3], fin=False)
                    + frame(OP_PONG, b"unsolicited")
                    + frame(OP_CONT, b"", fin=False)
                    + frame(OP_CONT, clef[3:] + "ü".encode())
                    + frame(OP_TEXT, b"")
                    + frame(OP_BINARY, b"", fin=False)
                    + frame(OP_CONT, b"\x00")
                )
                # One byte at a time: the reader must reassemble headers too.
                for byte in frame(OP_TEXT, "slow ✓".encode()):
                    await raw.stream.send(bytes([byte]))
                # Whole, unmasked, unfragmented frames: (opcode, fin, masked, payload).
                assert [await raw.read_frame() for _ in range(5)] == [
                    (OP_PONG, True, False, b"between"),
                    (OP_TEXT, True, False, "a𝄞ü".encode()),
                    (OP_TEXT, True, False, b""),
                    (OP_BINARY, True, False, b"\x00"),
                    (OP_TEXT, True, False, "slow ✓".encode()),
                ]
                # (Sent only now: a close frame ends what the server may send.)
                await raw.stream.send(frame(OP_CLOSE, close_payload(4321, "fin ✓".encode())))
                after, close, masked = await raw.frames_until_close()
                assert after == []
                assert close == (4321, "fin ✓".encode()) and not masked  # code and reason echoed
                await raw.expect_eof()
            finally:
                await raw.stream.aclose()
            tg.cancel_scope.cancel()


RAW_SERVER_VIOLATIONS: dict[str, tuple[bytes, int]] = {
    "masked server frame": (frame(OP_TEXT, b"x"), 1002),
    "rsv1 without extension": (frame(OP_TEXT, b"x", rsv=0x40, key=None), 1002),
    "invalid UTF-8": (frame(OP_TEXT, b"\xff", key=None), 1007),
    "oversize message": (frame(OP_BINARY, b"b" * (RAW_LIMIT + 1), key=None), 1009),
}


@pytest.mark.parametrize("case", list(RAW_SERVER_VIOLATIONS))
async def test_raw_violation_our_client_closes_with_code(codec: SimpleNamespace, case: str) -> None:
    """A raw server breaks the protocol; our client answers with a masked close frame and the code."""
    bad, expected = RAW_SERVER_VIOLATIONS[case]
    wire: list[Any] = []

    async def raw_server(stream: Any) -> None:
        raw = RawPeer(stream)
        try:
            head = await raw.read_until(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            await stream.send(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n" + frame(OP_TEXT, b"ok", key=None) + bad
            )
            wire.append(await raw.frames_until_close())
            await raw.expect_eof()  # the client closes too, after its close frame
            wire.append("eof")
        finally:
            await stream.aclose()

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
            tg.start_soon(listener.serve, raw_server)
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=RAW_LIMIT) as ws:
                messages = [message async for message in ws]
            assert messages == [TextMessage("ok")]
            assert ws.close_code == expected
            with anyio.fail_after(5):
                while len(wire) < 2:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    (before, (code, _reason), masked), eof = wire
    assert before == [] and code == expected and masked and eof == "eof"
