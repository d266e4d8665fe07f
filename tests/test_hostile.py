"""Hostile peers: bounded memory, bounded time, the right close code, and no harm to others.

Each test runs a well-behaved connection alongside the hostile one and
checks it is still served.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import tracemalloc
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from asyncwebsockets import HandshakeError, Websocket, create_websocket, open_websocket

from .helpers import echo, frame, raw_handshake, read_close_code, start

pytestmark = pytest.mark.anyio


async def assert_still_served(url: str) -> None:
    with anyio.fail_after(5):
        async with open_websocket(url) as ws:
            await ws.send("still here?")
            assert (await ws.receive()).data == "still here?"


class Recorder:
    """A server handler that records how each connection ended."""

    def __init__(self) -> None:
        self.codes: list[int | None] = []
        self.done = anyio.Event()

    async def __call__(self, ws: Websocket) -> None:
        try:
            async for message in ws:
                await ws.send(message.data)
        finally:
            self.codes.append(ws.close_code)
            self.done.set()


async def test_enormous_length_refused_before_payload(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, max_message_size=1 << 20)
        stream, _ = await raw_handshake(server.port)
        # Announce 2**62 bytes, send none of them: the answer comes at once.
        await stream.send(frame(2, b"", length=1 << 62)[:14])
        assert await read_close_code(stream) == 1009
        await stream.aclose()
        await assert_still_served(server.url)
        tg.cancel_scope.cancel()


async def test_endless_fragments_bounded(codec: SimpleNamespace) -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        server = await start(tg, recorder, max_message_size=64 * 1024)
        stream, _ = await raw_handshake(server.port)
        tracemalloc.start()
        try:
            await stream.send(frame(2, b"f" * 1024, fin=False))
            sent = 0
            chunk = b"".join(frame(0, b"f" * 1024, fin=False) for _ in range(16))
            with anyio.fail_after(10):
                try:
                    while sent < 8 << 20:
                        await stream.send(chunk)
                        sent += len(chunk)
                except (anyio.BrokenResourceError, OSError):
                    pass
                code = await read_close_code(stream)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert code == 1009
        # Whatever was sent after the limit was read and dropped, not held.
        assert peak < 4 << 20
        await stream.aclose()
        with anyio.fail_after(5):
            await recorder.done.wait()
        assert recorder.codes == [1009]
        await assert_still_served(server.url)
        tg.cancel_scope.cancel()


def test_tiny_fragment_flood_costs_no_more_than_its_bytes(codec: SimpleNamespace) -> None:
    # A million 1-byte fragments would be a million objects if kept as a list.
    reader = codec.frames.FrameReader(expect_masked=True, max_message_size=1 << 20)
    data = frame(2, b"x", fin=False) + frame(0, b"x", fin=False) * 100_000
    tracemalloc.start()
    try:
        for i in range(0, len(data), 65536):
            reader.feed(data[i : i + 65536])
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.buffered < 200_000
    assert current < 1 << 20


async def test_ping_flood_from_a_peer_that_never_reads(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        stream, _ = await raw_handshake(server.port)
        pings = frame(9, b"p" * 125) * 1000
        sent = 0
        # We answer every ping, but the peer never reads our pongs: once its
        # receive window is full we stop reading its pings, and its own
        # sends stall. Nothing grows without bound on our side.
        with anyio.move_on_after(2):
            while sent < 64 << 20:
                await stream.send(pings)
                sent += len(pings)
        assert sent < 64 << 20
        await assert_still_served(server.url)
        await stream.aclose()
        tg.cancel_scope.cancel()


async def test_many_half_open_handshakes(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, open_timeout=0.5)
        lazy: list[SocketStream] = []
        for _ in range(100):
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
            lazy.append(stream)
        await assert_still_served(server.url)
        # Every one of them is cut off after the open timeout.
        with anyio.fail_after(5):
            for stream in lazy:
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    while True:
                        await stream.receive()
                await stream.aclose()
        tg.cancel_scope.cancel()


async def test_reset_mid_frame(codec: SimpleNamespace) -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        server = await start(tg, recorder)
        stream, _ = await raw_handshake(server.port)
        await stream.send(frame(2, b"z" * 10000)[:5000])
        raw = stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()  # RST
        with anyio.fail_after(5):
            await recorder.done.wait()
        assert recorder.codes == [1006]
        await assert_still_served(server.url)
        tg.cancel_scope.cancel()


async def test_half_close_without_close_frame(codec: SimpleNamespace) -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        server = await start(tg, recorder)
        stream, _ = await raw_handshake(server.port)
        await stream.send(frame(1, b"bye without a close frame"))
        await stream.send_eof()
        with anyio.fail_after(5):
            await recorder.done.wait()
        assert recorder.codes == [1006]
        await stream.aclose()
        tg.cancel_scope.cancel()


# -- hostile servers ------------------------------------------------------------


async def fake_server(tg: anyio.abc.TaskGroup, respond: Any) -> int:
    """A raw TCP server; ``respond(stream, key)`` plays the server's part."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def handle(stream: SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive()
        key = next(
            line.split(b": ", 1)[1] for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")
        )
        try:
            await respond(stream, key)
        except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError):
            pass

    tg.start_soon(listener.serve, handle)
    return int(listener.extra(SocketAttribute.local_port))


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def switching(accept: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept
        + b"\r\n\r\n"
    )


async def test_server_with_wrong_accept_key(codec: SimpleNamespace) -> None:
    async def respond(stream: SocketStream, key: bytes) -> None:
        await stream.send(switching(accept_for(b"some other key")))
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        port = await fake_server(tg, respond)
        with anyio.fail_after(5), pytest.raises(HandshakeError):
            await open_websocket(f"ws://127.0.0.1:{port}/").__aenter__()
        tg.cancel_scope.cancel()


async def test_server_sending_masked_frames(codec: SimpleNamespace) -> None:
    close_codes: list[int | None] = []

    async def respond(stream: SocketStream, key: bytes) -> None:
        await stream.send(switching(accept_for(key)) + frame(1, b"masked by a server", key=os.urandom(4)))
        close_codes.append(await read_close_code(stream))

    async with anyio.create_task_group() as tg:
        port = await fake_server(tg, respond)
        async with open_websocket(f"ws://127.0.0.1:{port}/", close_timeout=0.5) as ws:
            with anyio.fail_after(5):
                assert [m async for m in ws] == []
            assert ws.close_code == 1002
        with anyio.fail_after(5):
            while not close_codes:
                await anyio.sleep(0.01)
        assert close_codes == [1002]
        tg.cancel_scope.cancel()


async def test_server_that_never_closes_tcp(codec: SimpleNamespace) -> None:
    async def respond(stream: SocketStream, key: bytes) -> None:
        await stream.send(switching(accept_for(key)))
        await read_close_code(stream)
        # Answer the close frame, then keep the TCP connection open forever.
        await stream.send(b"\x88\x02\x03\xe8")
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        port = await fake_server(tg, respond)
        begin = anyio.current_time()
        async with open_websocket(f"ws://127.0.0.1:{port}/", close_timeout=0.5) as ws:
            pass
        assert ws.close_code == 1000
        assert anyio.current_time() - begin < 3
        tg.cancel_scope.cancel()


async def test_server_flooding_an_idle_client_is_bounded(codec: SimpleNamespace) -> None:
    flood_sent: list[int] = []

    async def respond(stream: SocketStream, key: bytes) -> None:
        await stream.send(switching(accept_for(key)))
        sent = 0
        message = frame(2, b"m" * 65000, key=None)
        with anyio.move_on_after(2):
            while True:
                await stream.send(message)
                sent += len(message)
        flood_sent.append(sent)

    async with anyio.create_task_group() as tg:
        port = await fake_server(tg, respond)
        async with open_websocket(f"ws://127.0.0.1:{port}/", close_timeout=0.2) as ws:
            with anyio.fail_after(5):
                while not flood_sent:
                    await anyio.sleep(0.05)
            # The application did not read: neither did we, so TCP stopped
            # the flood after a few socket buffers.
            assert flood_sent[0] < 32 << 20
            # At most the queue's 16 messages, plus what came with the read
            # that filled it, are kept.
            queued = ws._receiver.pending()
            assert len(queued) <= 16 + (256 * 1024) // 65000 + 1
            assert sum(len(m.data) for m in queued) <= 16 * 65000 + 256 * 1024
        tg.cancel_scope.cancel()


async def test_closing_against_a_flood_reads_for_the_close_frame_within_bounds(codec: SimpleNamespace) -> None:
    """close() reads on to find the peer's close frame, and drops what does not fit in the queue."""

    async def respond(stream: SocketStream, key: bytes) -> None:
        await stream.send(switching(accept_for(key)))
        message = frame(2, b"m" * 65000, key=None)
        with anyio.move_on_after(4):
            while True:
                await stream.send(message)

    async with anyio.create_task_group() as tg:
        port = await fake_server(tg, respond)
        ws = await create_websocket(f"ws://127.0.0.1:{port}/", close_timeout=1)
        with anyio.fail_after(5):
            while ws._receiver.queued < 16:
                await anyio.sleep(0.02)
            begin = anyio.current_time()
            await ws.close()
        assert anyio.current_time() - begin < 3
        assert ws.close_code == 1006
        queued = ws._receiver.pending()
        assert 16 <= len(queued) <= 16 + (256 * 1024) // 65000 + 1
        tg.cancel_scope.cancel()


async def test_echo_still_fine_after_hostile_tests(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, echo)
        await assert_still_served(server.url)
        tg.cancel_scope.cancel()
