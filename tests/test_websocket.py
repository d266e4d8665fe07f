"""The Websocket object over streams: in memory, over socket pairs and over TCP.

Every test runs on asyncio and trio; the TCP ones also once with the fast
transports (asyncio's protocol callbacks, trio's direct socket calls) and
once with anyio's generic streams. Tests that move frames run with the
compiled and the pure-Python codec. Where the other side's behaviour is
the point, it is a hand-driven :class:`RawPeer` that reads and writes bytes.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from wsproto.events import BytesMessage, Message, TextMessage

import asyncwebsockets
from asyncwebsockets import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    Websocket,
    create_websocket,
    create_websocket_client,
    create_websocket_server,
    open_websocket,
)
from asyncwebsockets.transports import stream as stream_transport

from .helpers import (
    Frame,
    RawPeer,
    Recorder,
    accept_key,
    echo,
    frame,
    head_of,
    memory_pipe,
    raw_handshake,
    start,
    take_frame,
    two_backends,
    ws_and_raw,
    ws_pair,
)

pytestmark = pytest.mark.anyio

#: Streams that need no network: anyio memory object streams, and a Unix socket pair.
KINDS = ["memory", "socketpair"]

# -- TCP servers ---------------------------------------------------------------


async def drain(ws: Websocket) -> None:
    async for _ in ws:
        pass


async def raw_tcp_server(tg: anyio.abc.TaskGroup, handler: Callable[[RawPeer], Awaitable[Any]]) -> str:
    """A TCP server whose connections a raw peer handles after a 101; returns its URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def handle(stream: SocketStream) -> None:
        raw = RawPeer(stream, masks=False)
        try:
            await raw.accept()
            await handler(raw)
        finally:
            await raw.aclose()

    async def run() -> None:
        async with listener:
            await listener.serve(handle)

    tg.start_soon(run)
    return f"ws://127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}/"


class ThreadedRawServer:
    """A server on plain blocking sockets in a thread: a 101, then ``behaviour(sock, unread)``.

    Unlike an anyio stream on asyncio, which keeps reading into memory for a
    peer that does not call receive(), a socket nobody reads stays unread.
    """

    def __init__(self, behaviour: Callable[[socket.socket, bytearray], None]) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.settimeout(10)
                buf = bytearray()
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                end = buf.index(b"\r\n\r\n") + 4
                key = head_of(bytes(buf[:end]))[1]["sec-websocket-key"].encode()
                del buf[:end]
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
                )
                self._behaviour(conn, buf)
            except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
                self._errors.append(exc)

    def __enter__(self) -> ThreadedRawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._listener.close()

    async def finished(self) -> None:
        """Wait (without blocking the event loop) for the thread's connection to end."""
        await anyio.to_thread.run_sync(self._thread.join, 10)
        assert not self._thread.is_alive()
        if self._errors:
            raise self._errors[0]


@asynccontextmanager
async def silent_server() -> AsyncIterator[ThreadedRawServer]:
    """A server that completes the handshake, then reads nothing until the block ends."""
    stop = threading.Event()
    with ThreadedRawServer(lambda conn, buf: stop.wait(10)) as server:
        try:
            yield server
        finally:
            stop.set()
        await server.finished()


def read_frames_until(conn: socket.socket, buf: bytearray, last: Frame) -> tuple[list[Frame], bool]:
    """Blocking: frames from a client until ``last`` (True) or EOF (False)."""
    frames: list[Frame] = []
    while True:
        got = take_frame(buf, masked=True)
        if got is not None:
            if got == last:
                return frames, True
            frames.append(got)
            continue
        try:
            data = conn.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            return frames, False
        buf += data


# -- messages -----------------------------------------------------------------

PAYLOADS = ["text", "", "ünïcødé 𝄞", b"", b"\x00\xff" * 10, os.urandom(1 << 20)]
PAYLOAD_IDS = ["text", "empty-text", "unicode", "empty-bytes", "bytes", "1MiB"]


@two_backends
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
async def test_echo_over_streams(codec: SimpleNamespace, kind: str, payload: Any) -> None:
    options = {"max_message_size": 2 << 20}
    with anyio.fail_after(10):
        async with ws_pair(kind, options, options) as (client, server), anyio.create_task_group() as tg:
            # Sent from another task: a socket pair holds less than a large message.
            tg.start_soon(client.send, payload)
            got = await server.receive()
            assert type(got) is (TextMessage if isinstance(payload, str) else BytesMessage)
            assert got.data == payload
            tg.start_soon(server.send, got.data)
            assert (await client.receive()).data == payload


@pytest.mark.parametrize("kind", [*KINDS, "tcp"])
@pytest.mark.parametrize("sender", ["server", "client"])
async def test_large_messages_to_a_reader_that_lags_arrive_whole(
    codec: SimpleNamespace, kind: str, sender: str
) -> None:
    # A server's large frames go out as header and payload, unjoined; with a
    # reader that lags, the socket takes them part by part, and what is
    # left of each must follow in order, payloads unchanged.
    rng = random.Random(f"{kind} {sender}")
    messages: list[str | bytes] = [
        "é" * rng.randint(33000, 300000) if i % 4 == 0 else rng.randbytes(rng.randint(65536, 700000)) for i in range(12)
    ]
    options = {"max_message_size": 2 << 20}
    with anyio.fail_after(20):
        async with ws_pair(kind, options, options) as (client, server), anyio.create_task_group() as tg:
            writer, reader = (server, client) if sender == "server" else (client, server)

            async def send_all() -> None:
                for message in messages:
                    await writer.send(message)

            tg.start_soon(send_all)
            await anyio.sleep(0.1)
            for message in messages:
                assert (await reader.receive()).data == message


@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
async def test_echo_over_tcp(codec: SimpleNamespace, payload: Any) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, max_message_size=2 << 20)
        with anyio.fail_after(10):
            async with open_websocket(server.url, max_message_size=2 << 20) as ws:
                await ws.send(payload)
                reply = await ws.receive()
                assert reply.data == payload
                assert type(reply) is (TextMessage if isinstance(payload, str) else BytesMessage)
        assert ws.closed and ws.close_code == 1000
        tg.cancel_scope.cancel()


async def test_many_messages_in_order(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(10):
            async with open_websocket(server.url) as ws:
                for i in range(300):
                    await ws.send(f"message {i}")
                for i in range(300):
                    assert (await ws.receive()).data == f"message {i}"
        tg.cancel_scope.cancel()


async def test_answer_goes_out_while_handler_waits(codec: SimpleNamespace) -> None:
    """An answer sent while more received messages are queued is not held back.

    (The fast asyncio transport may gather such answers into one write; one
    must still go out when the handler then waits for something else.)
    """
    answered = anyio.Event()

    async def handler(ws: Websocket) -> None:
        await anyio.sleep(0.2)  # all three messages arrive, and are read together
        first = await ws.receive()
        await ws.send(f"got {first.data}")
        with anyio.fail_after(5):
            await answered.wait()
        async for message in ws:
            await ws.send(f"got {message.data}")

    async with anyio.create_task_group() as tg:
        server = await start(tg, handler)
        with anyio.fail_after(10):
            async with open_websocket(server.url) as ws:
                for i in range(3):
                    await ws.send(str(i))
                assert (await ws.receive()).data == "got 0"
                answered.set()
                assert [(await ws.receive()).data for _ in range(2)] == ["got 1", "got 2"]
        tg.cancel_scope.cancel()


@two_backends
async def test_bytes_like_payloads(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_pair() as (client, server):
            await client.send(bytearray(b"array"))
            await client.send(memoryview(b"xview")[1:])
            assert [await server.receive() for _ in range(2)] == [BytesMessage(b"array"), BytesMessage(b"view")]
            with pytest.raises(TypeError):
                await client.send(12345)  # type: ignore[arg-type]


@two_backends
async def test_fragmented_send_on_the_wire(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw() as (ws, raw):
            await ws.send("frag", final=False)
            await ws.send("men", final=False)
            await ws.send("ted")
            await ws.send(b"\x01", final=False)
            with pytest.raises(TypeError):
                await ws.send("text inside a binary message")
            await ws.send(b"\x02")
            frames = [await raw.read_frame() for _ in range(5)]
            assert frames == [
                (False, 1, b"frag"),
                (False, 0, b"men"),
                (True, 0, b"ted"),
                (False, 2, b"\x01"),
                (True, 0, b"\x02"),
            ]


async def test_fragmented_send_reassembled(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                await ws.send("frag", final=False)
                await ws.send("men", final=False)
                await ws.send("ted")
                await ws.send(b"by", final=False)
                await ws.send(b"tes")
                assert (await ws.receive()).data == "fragmented"
                assert (await ws.receive()).data == b"bytes"
        tg.cancel_scope.cancel()


async def test_frame_by_frame_receiving(codec: SimpleNamespace) -> None:
    async def send_in_pieces(ws: Websocket) -> None:
        await ws.send(b"a" * 1000, final=False)
        await ws.send(b"b" * 1000, final=False)
        await ws.send(b"c")
        await ws.receive()

    async with anyio.create_task_group() as tg:
        server = await start(tg, send_in_pieces)
        with anyio.fail_after(5):
            async with open_websocket(server.url, reassemble=False, max_message_size=1500) as ws:
                pieces = [await ws.receive() for _ in range(3)]
                assert [p.message_finished for p in pieces] == [False, False, True]
                assert b"".join(p.data for p in pieces) == b"a" * 1000 + b"b" * 1000 + b"c"
                await ws.send("done")
        tg.cancel_scope.cancel()


# -- the end of the conversation ----------------------------------------------


@two_backends
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("code, ok", [(1000, True), (1001, True), (4000, False), (1011, False)])
async def test_iteration_ends_after_peer_close(codec: SimpleNamespace, kind: str, code: int, ok: bool) -> None:
    with anyio.fail_after(5):
        async with ws_pair(kind) as (client, server):

            async def server_side() -> None:
                await server.send("one")
                await server.send(b"two")
                await server.close(code, "done here")

            async with anyio.create_task_group() as tg:
                tg.start_soon(server_side)
                received = [m.data async for m in client]
            # Sent before the close: still delivered.
            assert received == ["one", b"two"]
            assert client.closed and server.closed
            assert (client.close_code, client.close_reason) == (code, "done here")
            assert server.close_code == code  # our code, echoed
            expected = ConnectionClosedOK if ok else ConnectionClosedError
            for ws in (client, server):
                with pytest.raises(expected) as info:
                    await ws.receive()
                assert info.value.code == code
                with pytest.raises(expected):
                    await ws.send("after close")
                assert [m async for m in ws] == []


@two_backends
async def test_close_code_none_while_open(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_pair() as (client, server):
            assert client.close_code is None and client.close_reason is None and not client.closed
            assert "OPEN" in repr(client) and "client" in repr(client) and "server" in repr(server)


@two_backends
@pytest.mark.parametrize("kind", KINDS)
async def test_close_waits_for_the_peers_close_frame(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(kind, close_timeout=3) as (ws, raw):
            closed = anyio.Event()

            async def close() -> None:
                await ws.close(4321, "bye")
                closed.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(close)
                assert await raw.read_frame() == (True, 8, (4321).to_bytes(2, "big") + b"bye")
                await anyio.wait_all_tasks_blocked()
                assert not closed.is_set()  # still waiting for our answer
                await raw.send_frame(8, (4321).to_bytes(2, "big"))
                await raw.aclose()  # the server closes TCP after the handshake
            assert ws.closed and ws.close_code == 4321


@two_backends
@pytest.mark.parametrize("kind", KINDS)
async def test_close_times_out_against_silent_peer(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(kind, close_timeout=0.15) as (ws, raw):
            begin = anyio.current_time()
            await ws.close()
            elapsed = anyio.current_time() - begin
            assert 0.14 <= elapsed < 3
            assert ws.closed and ws.close_code == 1006  # no close frame came back
            assert await raw.read_close_code() == 1000  # ours was sent
            assert await raw.read_to_eof() == []  # and the transport closed


async def test_close_times_out_against_silent_tcp_peer() -> None:
    async with anyio.create_task_group() as tg:
        url = await raw_tcp_server(tg, lambda raw: anyio.sleep_forever())
        with anyio.fail_after(5):
            ws = await create_websocket(url, close_timeout=0.15)
            begin = anyio.current_time()
            await ws.close()
            assert anyio.current_time() - begin < 3
            assert ws.closed and ws.close_code == 1006
        tg.cancel_scope.cancel()


@two_backends
async def test_close_twice_is_a_noop(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(close_timeout=3) as (ws, raw):

            async def answer() -> None:
                assert await raw.read_close_code() == 1000
                await raw.send_frame(8, (1000).to_bytes(2, "big"))
                await raw.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(answer)
                await ws.close()
            assert ws.close_code == 1000
            with anyio.fail_after(0.5):
                await ws.close()
                await ws.close(4000, "different")
            assert (ws.close_code, ws.close_reason) == (1000, "")


@two_backends
async def test_close_while_another_task_iterates(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_pair() as (client, server):
            got: list[Any] = []

            async def iterate(ws: Websocket) -> None:
                async for message in ws:
                    got.append(message.data)

            async with anyio.create_task_group() as tg:
                tg.start_soon(iterate, client)
                tg.start_soon(iterate, server)
                await server.send("before close")
                await anyio.wait_all_tasks_blocked()
                await client.close(1001, "going")
            assert got == ["before close"]
            assert client.close_code == server.close_code == 1001


@two_backends
@pytest.mark.parametrize("code", [None, 1005])
async def test_close_without_code(codec: SimpleNamespace, code: int | None) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(close_timeout=0.2) as (ws, raw):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.close, code)
                assert await raw.read_frame() == (True, 8, b"")
                await raw.send_frame(8)
                await raw.aclose()
            assert ws.close_code == 1005


@two_backends
@pytest.mark.parametrize("code, reason", [(999, ""), (1015, ""), (5000, ""), (1000, "x" * 124)])
async def test_close_with_bad_code_or_reason_refused(codec: SimpleNamespace, code: int, reason: str) -> None:
    with anyio.fail_after(5):
        async with ws_pair() as (client, server):
            with pytest.raises(ValueError):
                await client.close(code, reason)
            assert not client.closed
            await client.send("still open")
            assert (await server.receive()).data == "still open"


@two_backends
@pytest.mark.parametrize("kind", KINDS)
async def test_close_1006_aborts_without_close_frame(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(kind) as (ws, raw):
            await ws.send("last")
            begin = anyio.current_time()
            await ws.close(1006)
            assert anyio.current_time() - begin < 1
            assert ws.closed and ws.close_code == 1006
            assert await raw.read_to_eof() == [(True, 1, b"last")]  # and no close frame


async def test_close_1006_seen_by_server(codec: SimpleNamespace) -> None:
    record = Recorder()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record)
        with anyio.fail_after(5):
            ws = await create_websocket(server.url)
            await ws.close(1006)
            await record.done.wait()
        assert record.codes == [1006]
        tg.cancel_scope.cancel()


@two_backends
@pytest.mark.parametrize("role", ["client", "server"])
async def test_peer_vanishes_without_close_frame(codec: SimpleNamespace, role: str) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(role=role) as (ws, raw):
            await raw.send_frame(1, b"parting words")
            await raw.aclose()
            assert [m.data async for m in ws] == ["parting words"]
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError) as info:
                await ws.receive()
            assert info.value.code == 1006
            with pytest.raises(ConnectionClosedError):
                await ws.send("anyone?")


async def test_async_with_closes_with_1000(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with await create_websocket(server.url) as ws:
                await ws.send("x")
            assert ws.closed and ws.close_code == 1000
            ws = await create_websocket(server.url)
            await ws.aclose()
            assert ws.close_code == 1000
        tg.cancel_scope.cancel()


# -- pings --------------------------------------------------------------------


async def test_ping_latency_without_reader(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                # Nobody iterates: ping() reads the pong itself...
                assert 0 <= await ws.ping() < 5
                # ...and keeps what it read on the way for the next reader.
                await ws.send("queued")
                assert 0 <= await ws.ping(b"after") < 5
                assert (await ws.receive()).data == "queued"
        tg.cancel_scope.cancel()


async def test_ping_right_after_a_receive_reads_its_own_pong(
    codec: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the application reads for itself, ping() does too: it does not wait for the reader task.

    The reader task stands aside while the application reads, and comes
    back only after a while; with that while made long, a ping() that
    waited for it would time out here.
    """
    monkeypatch.setattr(stream_transport, "GRACE", 60.0)
    monkeypatch.setattr(stream_transport, "AWAY_LIMIT", 60.0)
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                for i in range(3):
                    await ws.send(f"message {i}")
                    assert (await ws.receive()).data == f"message {i}"
                    assert 0 <= await ws.ping() < 5
        tg.cancel_scope.cancel()


async def test_ping_latency_while_another_task_iterates(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                got: list[Message[Any]] = []
                received = anyio.Event()

                async def reader() -> None:
                    async for message in ws:
                        got.append(message)
                        received.set()

                tg.start_soon(reader)
                await anyio.wait_all_tasks_blocked()
                await ws.send("hello")
                latencies = [await ws.ping(b"explicit"), await ws.ping()]
                assert all(0 <= latency < 5 for latency in latencies)
                await received.wait()
                assert [m.data for m in got] == ["hello"]
        tg.cancel_scope.cancel()


@two_backends
async def test_concurrent_pings(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_pair() as (client, server):
            latencies: list[float] = []

            async def ping(payload: bytes) -> None:
                latencies.append(await client.ping(payload))

            async with anyio.create_task_group() as tg:
                tg.start_soon(echo, server)
                async with anyio.create_task_group() as pings:
                    for i in range(5):
                        pings.start_soon(ping, b"%d" % i)
                tg.cancel_scope.cancel()
            assert len(latencies) == 5


@two_backends
async def test_ping_payload_checks(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw() as (ws, raw):
            with pytest.raises(ValueError):
                await ws.ping(b"x" * 126)
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.ping, b"same")
                assert await raw.read_frame() == (True, 9, b"same")
                with pytest.raises(ValueError):
                    await ws.ping(b"same")
                await raw.send_frame(10, b"same")


@two_backends
async def test_one_pong_answers_every_earlier_ping(codec: SimpleNamespace) -> None:
    """RFC 6455 section 5.5.3 lets a peer answer only the latest ping."""
    with anyio.fail_after(5):
        async with ws_and_raw() as (ws, raw):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.ping, b"first")
                assert await raw.read_frame() == (True, 9, b"first")
                tg.start_soon(ws.ping, b"second")
                assert await raw.read_frame() == (True, 9, b"second")
                await raw.send_frame(10, b"unsolicited")  # ignored
                await raw.send_frame(10, b"second")


@two_backends
async def test_ping_fails_when_peer_closes(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(close_timeout=0.5) as (ws, raw):
            async with anyio.create_task_group() as tg:

                async def answer_with_close() -> None:
                    assert (await raw.read_frame())[1] == 9  # type: ignore[index]
                    await raw.send_frame(8, (1001).to_bytes(2, "big"))
                    assert await raw.read_close_code() == 1001
                    await raw.aclose()

                tg.start_soon(answer_with_close)
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.ping()
                assert info.value.code == 1001


@two_backends
async def test_pong_is_sent(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(role="server") as (ws, raw):
            await ws.pong(b"heartbeat")
            assert await raw.read_frame() == (True, 10, b"heartbeat")


@two_backends
@pytest.mark.parametrize("role", ["client", "server"])
async def test_peer_pings_answered_automatically(codec: SimpleNamespace, role: str) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(role=role) as (ws, raw):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, ws)
                for payload in (b"", b"are you there", b"x" * 125):
                    await raw.send_frame(9, payload)
                    assert await raw.read_frame() == (True, 10, payload)
                # Between the fragments of a message, too.
                await raw.send_frame(1, b"a", fin=False)
                await raw.send_frame(9, b"mid")
                assert await raw.read_frame() == (True, 10, b"mid")
                await raw.send_frame(0, b"b")
                await raw.aclose()


async def test_server_answers_client_pings_over_tcp(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        stream, head = await raw_handshake(server.port)
        assert head.startswith(b"HTTP/1.1 101")
        raw = RawPeer(stream, masks=True)
        with anyio.fail_after(5):
            await raw.send_frame(9, b"are you there")
            assert await raw.read_frame() == (True, 10, b"are you there")
        await stream.aclose()
        tg.cancel_scope.cancel()


# -- keepalive ----------------------------------------------------------------


@two_backends
@pytest.mark.parametrize("kind", KINDS)
async def test_keepalive_fails_mute_server(codec: SimpleNamespace, kind: str) -> None:
    options = {"ping_interval": 0.1, "ping_timeout": 0.2, "close_timeout": 0.3}
    with anyio.fail_after(5):
        async with ws_and_raw(kind, **options) as (ws, raw):
            begin = anyio.current_time()
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, ws)
                ping = await raw.read_frame()
                assert ping is not None and ping[:2] == (True, 9)
                # Never answered: the connection fails with 1011.
                assert await raw.read_close_code() == 1011
                await raw.aclose()
            assert ws.close_code == 1011
            assert anyio.current_time() - begin < 3
            with pytest.raises(ConnectionClosedError):
                await ws.receive()


@two_backends
@pytest.mark.parametrize("kind", [*KINDS, "tcp"])
async def test_keepalive_failure_while_the_application_waits_closes_tcp_in_time(
    codec: SimpleNamespace, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The peer takes our ping, never answers and never closes: our side
    # fails the connection while its application waits in `async for`, and
    # must close TCP itself once close_timeout has passed.
    options = {"ping_interval": 0.1, "ping_timeout": 0.2, "close_timeout": 0.3}
    caplog.set_level(logging.INFO, logger="asyncwebsockets")
    with anyio.fail_after(5):
        async with ws_and_raw(kind, **options) as (ws, raw):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, ws)
                assert (await raw.read_frame())[:2] == (True, 9)  # type: ignore[index]
                failed = anyio.current_time()
                assert await raw.read_close_code() == 1011
                assert await raw.read_to_eof() == []
                assert anyio.current_time() - failed < 1.5
            assert ws.close_code == 1011
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("keepalive ping timeout" in r.getMessage() for r in caplog.records)


@two_backends
@pytest.mark.parametrize("kind", [*KINDS, "tcp"])
async def test_keepalive_pings_every_interval_when_answered(codec: SimpleNamespace, kind: str) -> None:
    # A ping_timeout longer than ping_interval bounds the wait for an
    # answer; it must not stretch the interval between answered pings.
    with anyio.fail_after(5):
        async with ws_and_raw(kind, ping_interval=0.05, ping_timeout=2.0) as (ws, raw):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, ws)
                pings = 0
                with anyio.move_on_after(1.0):
                    while True:
                        got = await raw.read_frame()
                        assert got is not None and got[:2] == (True, 9)
                        pings += 1
                        await raw.send_frame(10, got[2])
                assert pings >= 5  # 20 on an idle machine; 1 when the timeout set the pace
                assert not ws.closed
                tg.cancel_scope.cancel()


async def test_keepalive_fails_mute_tcp_server() -> None:
    async with anyio.create_task_group() as tg:
        url = await raw_tcp_server(tg, lambda raw: anyio.sleep_forever())
        begin = anyio.current_time()
        with anyio.fail_after(5):
            async with open_websocket(url, ping_interval=0.1, ping_timeout=0.15, close_timeout=0.3) as ws:
                assert [m async for m in ws] == []
                assert ws.close_code == 1011
        assert anyio.current_time() - begin < 4
        tg.cancel_scope.cancel()


async def test_keepalive_fails_mute_client() -> None:
    record = Recorder()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3)
        stream, _ = await raw_handshake(server.port)
        raw = RawPeer(stream, masks=True)
        with anyio.fail_after(5):
            assert (await raw.read_frame())[:2] == (True, 9)  # type: ignore[index]
            assert await raw.read_close_code() == 1011
            assert await raw.read_to_eof() == []
            await raw.aclose()
            await record.done.wait()
        assert record.codes == [1011]
        tg.cancel_scope.cancel()


@two_backends
async def test_keepalive_spares_a_live_peer(codec: SimpleNamespace) -> None:
    options = {"ping_interval": 0.05, "ping_timeout": 1.0}
    with anyio.fail_after(5):
        async with ws_pair("memory", options, options) as (client, server):
            async with anyio.create_task_group() as tg:
                tg.start_soon(echo, server)
                with anyio.move_on_after(0.25):  # several intervals of silence
                    async for _ in client:
                        pass
                assert not client.closed and not server.closed
                await client.send("alive")
                assert (await client.receive()).data == "alive"
                tg.cancel_scope.cancel()


# -- protocol violations --------------------------------------------------


@pytest.mark.parametrize(
    "bad, code",
    [
        (frame(3, b"x"), 1002),
        (frame(1, b"\xc0\xaf"), 1007),
        (frame(2, b"x" * 2000), 1009),
        (frame(1, b"x", key=None), 1002),
    ],
)
async def test_server_fails_bad_frames(codec: SimpleNamespace, bad: bytes, code: int) -> None:
    record = Recorder()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record, max_message_size=1000)
        stream, _ = await raw_handshake(server.port)
        await stream.send(frame(1, b"fine") + bad)
        raw = RawPeer(stream, masks=True)
        with anyio.fail_after(5):
            assert await raw.read_close_code() == code
            assert await raw.read_to_eof() == []  # the server closes TCP
            await stream.aclose()
            await record.done.wait()
        assert record.messages == ["fine"] and record.codes == [code]
        tg.cancel_scope.cancel()


@two_backends
@pytest.mark.parametrize(
    "opcode, payload, options, code",
    [
        (1, b"\xed\xa0\x80", {}, 1007),  # a UTF-16 surrogate
        (1, b"\xff", {}, 1007),
        (2, b"x" * 5000, {"max_message_size": 4096}, 1009),
        (3, b"", {}, 1002),
        (8, b"\x03\xed", {}, 1002),  # close code 1005 on the wire
    ],
)
async def test_client_fails_bad_frames(
    codec: SimpleNamespace, opcode: int, payload: bytes, options: Any, code: int
) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw(close_timeout=2, **options) as (ws, raw):
            await raw.send_frame(1, b"fine")
            await raw.send_frame(opcode, payload)
            codes: list[int | None] = []

            async def read_close() -> None:
                codes.append(await raw.read_close_code())
                await raw.aclose()  # the server's move once the client failed

            async with anyio.create_task_group() as tg:
                tg.start_soon(read_close)
                assert [m.data async for m in ws] == ["fine"]
            assert ws.close_code == code
            assert codes == [code]
            with pytest.raises(ConnectionClosedError) as info:
                await ws.send("no more")
            assert info.value.code == code


async def test_too_big_message_closes_both_sides_with_1009(codec: SimpleNamespace) -> None:
    codes: list[int | None] = []
    done = anyio.Event()

    async def big(ws: Websocket) -> None:
        await ws.send(b"x" * 5000)
        async for _ in ws:
            pass
        codes.append(ws.close_code)
        done.set()

    async with anyio.create_task_group() as tg:
        server = await start(tg, big)
        with anyio.fail_after(5):
            async with open_websocket(server.url, max_message_size=4096) as ws:
                assert [m async for m in ws] == []
                assert ws.close_code == 1009
            await done.wait()
        assert codes == [1009]  # the sender learns why
        tg.cancel_scope.cancel()


# -- concurrency and flow control ----------------------------------------


async def test_concurrent_senders_never_interleave(codec: SimpleNamespace) -> None:
    frames: list[Frame] = []
    done = anyio.Event()

    async def collect(raw: RawPeer) -> None:
        while len(frames) < 60:
            got = await raw.read_frame()
            assert got is not None
            frames.append(got)
        done.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        url = await raw_tcp_server(tg, collect)
        with anyio.fail_after(10):
            ws = await create_websocket(url, close_timeout=0.2)

            async def sender(tag: int) -> None:
                for i in range(10):
                    await ws.send(bytes([tag]) * (100_000 + i))

            async def ponger() -> None:
                for i in range(20):
                    await ws.pong(b"%d" % i)

            async with anyio.create_task_group() as senders:
                for tag in range(4):
                    senders.start_soon(sender, tag)
                senders.start_soon(ponger)
            await done.wait()
            await ws.close(1006)
        tg.cancel_scope.cancel()
    data = [f for f in frames if f[1] == 2]
    assert all(fin for fin, _, _ in frames)
    for tag in range(4):
        mine = [payload for _, _, payload in data if payload[:1] == bytes([tag])]
        assert mine == [bytes([tag]) * (100_000 + i) for i in range(10)]  # whole, in order
    assert [payload for _, opcode, payload in frames if opcode == 10] == [b"%d" % i for i in range(20)]


async def test_sender_blocks_when_peer_does_not_read() -> None:
    async with silent_server() as server:
        with anyio.fail_after(5):
            ws = await create_websocket(server.url, close_timeout=0.2)
            sent = 0
            with anyio.move_on_after(0.2) as scope:
                while True:
                    await ws.send(b"x" * 65536)
                    sent += 65536
            # Held back by TCP flow control, long before memory runs away.
            assert scope.cancelled_caught
            assert sent < 16 << 20
            await ws.close(1006)


@pytest.mark.parametrize("code", [1000, 1006])
async def test_close_releases_a_sender_blocked_by_flow_control(code: int) -> None:
    async with silent_server() as server:
        with anyio.fail_after(5):
            ws = await create_websocket(server.url, close_timeout=0.2)
            released = anyio.Event()

            async def flood() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.send(b"x" * 65536)
                released.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(flood)
                await anyio.wait_all_tasks_blocked()  # the peer reads nothing: flood waits
                await ws.close(code)
                await released.wait()
            assert ws.close_code == 1006  # the peer never answered


@pytest.mark.parametrize("code", [1000, 1006])
async def test_close_releases_the_socket_of_a_peer_that_reads_nothing(code: int) -> None:
    """Nothing the peer left unread may keep the socket open once close() returns."""
    async with silent_server() as server:
        with anyio.fail_after(5):
            ws = await create_websocket(server.url, close_timeout=0.2)
            sock = ws.transport.extra(anyio.abc.SocketAttribute.raw_socket)
            with anyio.move_on_after(0.2):
                while True:
                    await ws.send(b"x" * 65536)
            await ws.close(code)
            assert ws.close_code == 1006
            for _ in range(10):  # a few turns of the event loop at most
                if sock.fileno() == -1:
                    break
                await anyio.lowlevel.checkpoint()
            assert sock.fileno() == -1


@pytest.mark.parametrize("where", ["tcp", "memory"])
async def test_cancelled_send_never_garbles_the_stream(codec: SimpleNamespace, where: str) -> None:
    """A send cancelled on a congested connection: either the frame goes out whole, or the connection is dropped."""
    payload = b"y" * (1 << 20)
    may_read = threading.Event()
    go = anyio.Event()
    outcome: list[tuple[list[Frame], bool]] = []
    dropped: list[bool] = []

    def check(conn: socket.socket, buf: bytearray) -> None:
        may_read.wait(10)
        outcome.append(read_frames_until(conn, buf, (True, 2, b"z")))

    async def congest(ws: Websocket) -> None:
        with anyio.move_on_after(0.2) as scope:
            while True:
                await ws.send(payload)
        assert scope.cancelled_caught  # the connection was congested
        may_read.set()
        go.set()
        dropped.append(ws.closed)
        if ws.closed:
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosed):
                await ws.send(b"z")
        else:
            await ws.send(b"z")

    with anyio.fail_after(15):
        if where == "tcp":
            with ThreadedRawServer(check) as server:
                ws = await create_websocket(server.url, close_timeout=0.5)
                try:
                    await congest(ws)
                finally:
                    may_read.set()
                await server.finished()
            await ws.abort()
            frames, intact = outcome[0]
        else:
            a, b = memory_pipe(buffer=2)
            raw = RawPeer(b, masks=False)
            async with anyio.create_task_group() as tg:
                tg.start_soon(raw.accept)
                ws = await create_websocket_client(a, "localhost", "/", close_timeout=0.5)
            frames = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(congest, ws)
                await go.wait()
                while True:
                    got = await raw.read_frame()
                    if got is None or got == (True, 2, b"z"):
                        break
                    frames.append(got)
            intact = got is not None
            await ws.abort()
    # Every frame that arrived arrived whole; the stream went on only if none was cut.
    assert all(got == (True, 2, payload) for got in frames)
    assert dropped == [not intact]


# -- what a Websocket knows ---------------------------------------------------


async def test_connection_details(codec: SimpleNamespace) -> None:
    seen: dict[str, Any] = {}

    async def describe(ws: Websocket) -> None:
        seen["request_headers"] = ws.request_headers
        seen["remote"] = ws.remote_address
        seen["local"] = ws.local_address
        seen["subprotocol"] = ws.subprotocol
        await ws.send("described")

    async with anyio.create_task_group() as tg:
        server = await start(tg, describe, extra_headers=[("X-Server", "s")])
        with anyio.fail_after(5):
            async with open_websocket(server.url, headers=[("X-Client", "c")]) as ws:
                assert (await ws.receive()).data == "described"
                assert (b"x-server", b"s") in ws.response_headers
                assert (b"x-client", b"c") in [(n.lower(), v) for n, v in ws.request_headers]
                assert ws.remote_address[1] == server.port
                assert ws.request is not None and ws.request.target == "/"
                assert ws.subprotocol is None
                assert tuple(seen["remote"][:2]) == tuple(ws.local_address[:2])
        assert (b"x-client", b"c") in seen["request_headers"]
        assert seen["local"][1] == server.port
        tg.cancel_scope.cancel()


async def test_addresses_readable_after_close(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            ws = await create_websocket(server.url)
            address = ws.remote_address
            assert address[1] == server.port
            await ws.close()
        # Closed: still the address, or None; never an error from a closed socket.
        assert ws.remote_address in (address, None)
        assert ws.local_address is None or ws.local_address[1] > 0
        tg.cancel_scope.cancel()


async def test_unix_socket(codec: SimpleNamespace, tmp_path: Any) -> None:
    path = str(tmp_path / "ws.sock")
    listener = await anyio.create_unix_listener(path)

    async def handle(stream: Any) -> None:
        ws = await create_websocket_server(stream)
        await echo(ws)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        with anyio.fail_after(5):
            stream = await anyio.connect_unix(path)
            ws = await create_websocket_client(stream, "localhost", "/")
            await ws.send(b"unix")
            assert (await ws.receive()).data == b"unix"
            await ws.close()
            assert ws.close_code == 1000
        tg.cancel_scope.cancel()


async def test_version_and_flag() -> None:
    assert isinstance(asyncwebsockets.SPEEDUPS, bool)
    assert asyncwebsockets.__version__


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_on_uvloop(codec: SimpleNamespace) -> None:
    """The native transport also runs on uvloop, whose transports are not asyncio's classes."""
    pytest.importorskip("uvloop", reason="uvloop is a test dependency on Linux and macOS")

    # Large messages too: read into place, and (from the server) written
    # as header and payload with uvloop's writelines.
    large = [os.urandom(300_000), "é" * 600_000, os.urandom(70_000)]

    async def exchange() -> Any:
        async with anyio.create_task_group() as tg:
            server = await start(tg, max_message_size=2 << 20)
            async with open_websocket(server.url, max_message_size=2 << 20) as ws:
                await ws.send("over uvloop")
                reply = (await ws.receive()).data
                for message in large:
                    await ws.send(message)
                    assert (await ws.receive()).data == message
            tg.cancel_scope.cancel()
        return reply

    def run() -> Any:
        return anyio.run(exchange, backend="asyncio", backend_options={"use_uvloop": True})

    with anyio.fail_after(10):
        assert await anyio.to_thread.run_sync(run) == "over uvloop"


async def test_send_lock_is_fifo_and_survives_cancellation() -> None:
    from asyncwebsockets.transports.stream import SendLock

    lock = SendLock()
    order: list[int] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await lock.__aenter__()

            async def waiter(i: int) -> None:
                async with lock:
                    order.append(i)

            cancelled = anyio.CancelScope()

            async def cancelled_waiter() -> None:
                with cancelled:
                    async with lock:
                        order.append(99)

            tg.start_soon(waiter, 1)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(cancelled_waiter)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(waiter, 2)
            await anyio.wait_all_tasks_blocked()
            cancelled.cancel()
            await anyio.wait_all_tasks_blocked()
            await lock.__aexit__(None, None, None)
        assert order == [1, 2]
        # Free again: taken without waiting.
        async with lock:
            pass
