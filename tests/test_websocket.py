"""The public API over real sockets on 127.0.0.1, on every backend and codec."""

from __future__ import annotations

import base64
import os
import struct
from types import SimpleNamespace
from typing import Any, AsyncIterator, Awaitable, Callable, List, Optional, Tuple

import anyio
import pytest
from anyio.abc import SocketStream
from wsproto.events import BytesMessage, Message, Request, TextMessage

import asyncwebsockets
from asyncwebsockets import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    HandshakeRejected,
    HandshakeTimeout,
    InvalidURI,
    Reject,
    Websocket,
    create_websocket,
    create_websocket_client,
    open_websocket,
    open_websocket_client,
    open_websocket_server,
    serve,
)

from .test_codec import frame

pytestmark = pytest.mark.anyio

Handler = Callable[[Websocket], Awaitable[Any]]


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


class Server:
    """A `serve` running in a task group for the length of a test."""

    def __init__(self, tg: anyio.abc.TaskGroup, port: int) -> None:
        self.tg = tg
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/"


async def start(tg: anyio.abc.TaskGroup, handler: Handler = echo, **options: Any) -> Server:
    server = await tg.start(lambda task_status: serve(handler, "127.0.0.1", 0, task_status=task_status, **options))
    return Server(tg, server.port)


async def raw_handshake(port: int, extra: bytes = b"") -> Tuple[SocketStream, bytes]:
    """A hand-driven client: send an upgrade request, return the stream and the response head."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    await stream.send(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + extra
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += await stream.receive()
    head, _, rest = response.partition(b"\r\n\r\n")
    assert not rest
    return stream, head


async def read_close_code(stream: SocketStream) -> Optional[int]:
    """Read frames from the peer until its close frame; its code (None at EOF without one)."""
    data = b""
    with anyio.fail_after(10):
        while True:
            while len(data) >= 2:
                length = data[1] & 0x7F
                header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
                masked = bool(data[1] & 0x80)
                if len(data) < header + 4 * masked:
                    break
                if length >= 126:
                    length = int.from_bytes(data[2:header], "big")
                if masked:
                    header += 4
                if len(data) < header + length:
                    break
                if data[0] & 0x0F == 8:
                    payload = data[header : header + length]
                    if masked:
                        key = data[header - 4 : header]
                        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
                    return struct.unpack("!H", payload[:2])[0] if payload else 1005
                data = data[header + length :]
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None


# -- messages ---------------------------------------------------------------


@pytest.mark.parametrize("payload", ["text", "", "ünïcødé 𝄞", b"", b"\x00\xff" * 10, os.urandom(1 << 20)])
async def test_echo(codec: SimpleNamespace, payload: Any) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, max_message_size=4 << 20)
        async with open_websocket(server.url, max_message_size=4 << 20) as ws:
            await ws.send(payload)
            reply = await ws.receive()
            assert reply.data == payload
            assert isinstance(reply, TextMessage if isinstance(payload, str) else BytesMessage)
        assert ws.closed and ws.close_code == 1000
        tg.cancel_scope.cancel()


async def test_many_messages_in_order(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        async with open_websocket(server.url) as ws:
            for i in range(300):
                await ws.send(f"message {i}")
            for i in range(300):
                assert (await ws.receive()).data == f"message {i}"
        tg.cancel_scope.cancel()


async def test_fragmented_send(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        async with open_websocket(server.url) as ws:
            await ws.send("frag", final=False)
            await ws.send("men", final=False)
            await ws.send("ted")
            assert (await ws.receive()).data == "fragmented"
        tg.cancel_scope.cancel()


async def test_frame_by_frame_receiving(codec: SimpleNamespace) -> None:
    async def send_in_pieces(ws: Websocket) -> None:
        await ws.send(b"a" * 1000, final=False)
        await ws.send(b"b" * 1000, final=False)
        await ws.send(b"c")
        await ws.receive()

    async with anyio.create_task_group() as tg:
        server = await start(tg, send_in_pieces)
        async with open_websocket(server.url, reassemble=False, max_message_size=1500) as ws:
            pieces = [await ws.receive() for _ in range(3)]
            assert [p.message_finished for p in pieces] == [False, False, True]
            assert b"".join(p.data for p in pieces) == b"a" * 1000 + b"b" * 1000 + b"c"
            await ws.send("done")
        tg.cancel_scope.cancel()


# -- pings and keepalive ---------------------------------------------------


async def test_ping_latency_with_and_without_reader(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        async with open_websocket(server.url) as ws:
            # Nobody iterates: ping() reads the pong itself.
            assert 0 <= await ws.ping() < 5
            got: List[Message[Any]] = []

            async def reader() -> None:
                async for message in ws:
                    got.append(message)

            tg.start_soon(reader)
            await ws.send("hello")
            assert 0 <= await ws.ping(b"explicit") < 5
            with anyio.fail_after(5):
                while not got:
                    await anyio.sleep(0.01)
            assert got[0].data == "hello"
        tg.cancel_scope.cancel()


async def test_server_answers_client_pings(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        stream, head = await raw_handshake(server.port)
        assert head.startswith(b"HTTP/1.1 101")
        await stream.send(frame(9, b"are you there"))
        with anyio.fail_after(5):
            data = await stream.receive()
        assert data == b"\x8a\x0dare you there"
        await stream.aclose()
        tg.cancel_scope.cancel()


async def test_keepalive_detects_dead_peer(codec: SimpleNamespace) -> None:
    # A peer that completes the handshake, then never says anything again.
    async with anyio.create_task_group() as tg:
        # Our client, with a short keepalive, against a raw server that
        # completes the handshake and then ignores everything.
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def mute_server() -> None:
            async def handle(s: SocketStream) -> None:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += await s.receive()
                key = [l.split(b": ")[1] for l in request.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
                import hashlib

                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                await s.send(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                await anyio.sleep_forever()

            await listener.serve(handle)

        tg.start_soon(mute_server)
        start_time = anyio.current_time()
        async with open_websocket(f"ws://127.0.0.1:{port}/", ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5) as ws:
            with anyio.fail_after(5):
                async for _ in ws:
                    pass
            assert ws.close_code == 1011
        assert anyio.current_time() - start_time < 4
        tg.cancel_scope.cancel()


# -- closing ----------------------------------------------------------------


async def test_server_closes_with_reason(codec: SimpleNamespace) -> None:
    async def closer(ws: Websocket) -> None:
        await ws.send("last words")
        await ws.close(4000, "done here")

    async with anyio.create_task_group() as tg:
        server = await start(tg, closer)
        async with open_websocket(server.url) as ws:
            messages = [m.data async for m in ws]
            assert messages == ["last words"]  # sent before the close: delivered
            assert (ws.close_code, ws.close_reason) == (4000, "done here")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.receive()
            assert info.value.code == 4000
            with pytest.raises(ConnectionClosed):
                await ws.send("after close")
        tg.cancel_scope.cancel()


async def test_close_is_idempotent_and_ends_iteration(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        ws = await create_websocket(server.url)
        await ws.send(b"test")
        received = 0
        async for message in ws:
            assert message.data == b"test"
            received += 1
            await ws.close(code=1000, reason="Thank you!")
        assert received == 1
        await ws.close()
        assert ws.close_code == 1000
        with pytest.raises(ConnectionClosedOK):
            await ws.receive()
        tg.cancel_scope.cancel()


async def test_close_times_out_against_silent_peer(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        accepted: List[SocketStream] = []

        async def accept_one() -> None:
            accepted.append(await listener.listeners[0].accept() if hasattr(listener, "listeners") else await listener.accept())

        tg.start_soon(accept_one)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        with anyio.fail_after(5):
            while not accepted:
                await anyio.sleep(0.01)
        server_side = accepted[0]

        async def half_server() -> None:
            async with open_websocket_server(server_side, close_timeout=30) as ws:
                await anyio.sleep_forever()

        tg.start_soon(half_server)
        ws = await create_websocket_client(stream, ("127.0.0.1", port), "/", close_timeout=0.3)
        # The server task never reads, so it never answers our close.
        begin = anyio.current_time()
        await ws.close()
        assert anyio.current_time() - begin < 3
        assert ws.closed
        tg.cancel_scope.cancel()


async def test_close_1006_aborts(codec: SimpleNamespace) -> None:
    codes: List[Optional[int]] = []

    async def record(ws: Websocket) -> None:
        async for _ in ws:
            pass
        codes.append(ws.close_code)

    async with anyio.create_task_group() as tg:
        server = await start(tg, record)
        ws = await create_websocket(server.url)
        await ws.close(1006)
        with anyio.fail_after(5):
            while not codes:
                await anyio.sleep(0.01)
        assert codes == [1006]
        tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    "bad, code",
    [(frame(3, b"x"), 1002), (frame(1, b"\xc0\xaf"), 1007), (frame(2, b"x" * 2000), 1009), (frame(1, b"x", key=None), 1002)],
)
async def test_server_fails_bad_frames(codec: SimpleNamespace, bad: bytes, code: int) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, max_message_size=1000)
        stream, _ = await raw_handshake(server.port)
        await stream.send(bad)
        assert await read_close_code(stream) == code
        await stream.aclose()
        tg.cancel_scope.cancel()


async def test_oversize_closes_client_with_1009(codec: SimpleNamespace) -> None:
    async def big(ws: Websocket) -> None:
        await ws.send(b"x" * 5000)
        async for _ in ws:
            pass

    async with anyio.create_task_group() as tg:
        server = await start(tg, big)
        async with open_websocket(server.url, max_message_size=4096) as ws:
            assert [m async for m in ws] == []
            assert ws.close_code == 1009
        tg.cancel_scope.cancel()


# -- concurrency and flow control ----------------------------------------


async def test_concurrent_senders_never_interleave(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, max_message_size=None)
        async with open_websocket(server.url, max_message_size=None) as ws:

            async def sender(tag: int) -> None:
                for i in range(20):
                    await ws.send(bytes([tag]) * (70000 + i))

            async with anyio.create_task_group() as senders:
                for tag in range(4):
                    senders.start_soon(sender, tag)
            seen = [await ws.receive() for _ in range(80)]
            for message in seen:
                assert len(set(message.data)) == 1  # one sender's bytes only
        tg.cancel_scope.cancel()


async def test_sender_blocks_when_peer_does_not_read(codec: SimpleNamespace) -> None:
    async def never_reads(ws: Websocket) -> None:
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        server = await start(tg, never_reads)
        async with open_websocket(server.url, close_timeout=0.5) as ws:
            sent = 0
            with anyio.move_on_after(1):
                while True:
                    await ws.send(b"x" * 65536)
                    sent += 65536
            # Blocked by TCP flow control, long before memory runs away.
            assert sent < 64 << 20
        tg.cancel_scope.cancel()


async def test_cancelled_send_leaves_no_garbage(codec: SimpleNamespace) -> None:
    async def slow_reader(ws: Websocket) -> None:
        await anyio.sleep(0.5)
        async for message in ws:
            await ws.send(str(len(message.data)))

    async with anyio.create_task_group() as tg:
        server = await start(tg, slow_reader, max_message_size=None)
        async with open_websocket(server.url, max_message_size=None, close_timeout=1) as ws:
            with anyio.move_on_after(0.1):
                while True:
                    await ws.send(b"y" * (1 << 20))
            # Either every frame went out whole (the connection goes on and
            # the peer reads only whole messages) or it was dropped.
            try:
                await ws.send(b"z")
                with anyio.fail_after(20):
                    async for message in ws:
                        if message.data == "1":
                            break
                        assert message.data == str(1 << 20)
            except ConnectionClosed:
                assert ws.close_code == 1006
        tg.cancel_scope.cancel()


# -- handshakes -----------------------------------------------------------


async def test_subprotocols_headers_and_filter(codec: SimpleNamespace) -> None:
    seen: List[Request] = []

    async def choose(request: Request) -> Any:
        seen.append(request)
        if request.target.startswith("/forbidden"):
            return Reject(403, [("X-Reason", "nope")], b"not for you")
        if request.target.startswith("/false"):
            return False
        return "chat.v2"

    async def info(ws: Websocket) -> None:
        await ws.send(f"{ws.subprotocol} {ws.request.target if ws.request else ''}")

    async with anyio.create_task_group() as tg:
        server = await start(tg, info, filter=choose)
        async with open_websocket(
            server.url + "room?id=7", headers=[("X-Custom", "1")], subprotocols=["chat.v1", "chat.v2"], origin="http://app.example"
        ) as ws:
            assert ws.subprotocol == "chat.v2"
            assert (await ws.receive()).data == "chat.v2 /room?id=7"
        headers = dict(seen[0].extra_headers)
        assert headers[b"x-custom"] == b"1" and headers[b"origin"] == b"http://app.example"
        with pytest.raises(HandshakeRejected) as info_:
            await create_websocket(server.url + "forbidden")
        assert info_.value.status_code == 403 and info_.value.body == b"not for you"
        assert (b"x-reason", b"nope") in info_.value.headers
        with pytest.raises(ConnectionError):
            await create_websocket(server.url + "false")
        tg.cancel_scope.cancel()


async def test_bad_handshake_gets_400_and_others_unaffected(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        async with open_websocket(server.url) as good:
            bad = await anyio.connect_tcp("127.0.0.1", server.port)
            await bad.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(5):
                response = await bad.receive()
            assert response.startswith(b"HTTP/1.1 400 ")
            wrong_version = await anyio.connect_tcp("127.0.0.1", server.port)
            await wrong_version.send(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 7\r\n\r\n"
            )
            with anyio.fail_after(5):
                response = await wrong_version.receive()
            assert response.startswith(b"HTTP/1.1 426 ")
            garbage = await anyio.connect_tcp("127.0.0.1", server.port)
            await garbage.send(os.urandom(5000))
            await good.send("still fine")
            assert (await good.receive()).data == "still fine"
            for stream in (bad, wrong_version, garbage):
                await stream.aclose()
        tg.cancel_scope.cancel()


async def test_server_open_timeout(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, open_timeout=0.3)
        lazy = await anyio.connect_tcp("127.0.0.1", server.port)
        await lazy.send(b"GET / HTTP/1.1\r\n")  # and never the rest
        with anyio.fail_after(5):
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                while True:
                    await lazy.receive()
        await lazy.aclose()
        tg.cancel_scope.cancel()


async def test_client_open_timeout() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: anyio.sleep_forever())
        with pytest.raises(HandshakeTimeout):
            await create_websocket(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
        tg.cancel_scope.cancel()


async def test_connection_refused_is_connection_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(HandshakeError) as info:
        await create_websocket(f"ws://127.0.0.1:{port}/")
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize(
    "url", ["http://example.com/", "ws://", "ws:///path", "ws://host/#frag", "wss://host:0/", "ws://host:99999/", "nonsense"]
)
async def test_bad_urls_fail_before_io(url: str) -> None:
    with pytest.raises(InvalidURI):
        await create_websocket(url)
    assert issubclass(InvalidURI, ValueError)


async def test_ssl_contradictions() -> None:
    import ssl

    with pytest.raises(ValueError):
        await create_websocket("ws://127.0.0.1:1/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError):
        await create_websocket("wss://127.0.0.1:1/", ssl=False)
    with pytest.raises(ValueError):  # permessage-deflate is not negotiated (yet)
        await create_websocket("ws://127.0.0.1:1/", compression="deflate")


# -- serve: handler outcomes and shutdown ---------------------------------


async def test_handler_error_closes_1011_and_propagates(codec: SimpleNamespace) -> None:
    async def broken(ws: Websocket) -> None:
        await ws.receive()
        raise KeyError("handler bug")

    with pytest.raises(Exception) as info:
        async with anyio.create_task_group() as tg:
            server = await start(tg, broken)
            async with open_websocket(server.url) as ws:
                await ws.send("trigger")
                assert [m async for m in ws] == []
                assert ws.close_code == 1011
    assert info.group_contains(KeyError) if hasattr(info, "group_contains") else True


async def test_shutdown_closes_with_1001(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server_scope = anyio.CancelScope()

        async def run_server(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            with server_scope:
                await serve(echo, "127.0.0.1", 0, task_status=task_status)

        server = await tg.start(run_server)
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("hi")
            assert (await ws.receive()).data == "hi"
            server_scope.cancel()
            with anyio.fail_after(5):
                assert [m async for m in ws] == []
            assert ws.close_code == 1001
        tg.cancel_scope.cancel()


# -- streams we are handed --------------------------------------------------


async def test_client_and_server_over_existing_streams(codec: SimpleNamespace) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: SocketStream) -> None:
        async with open_websocket_server(stream) as ws:
            async for message in ws:
                await ws.send(message.data)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with open_websocket_client(stream, ("127.0.0.1", port), "/path?q=1", subprotocols=["echo"]) as ws:
            assert ws.subprotocol == "echo"  # accepted by default, as 0.x did
            await ws.send("over a stream")
            assert (await ws.receive()).data == "over a stream"
            assert ws.remote_address[1] == port
        tg.cancel_scope.cancel()


async def test_unix_socket(codec: SimpleNamespace, tmp_path: Any) -> None:
    path = str(tmp_path / "ws.sock")
    listener = await anyio.create_unix_listener(path)

    async def handle(stream: Any) -> None:
        async with open_websocket_server(stream) as ws:
            async for message in ws:
                await ws.send(message.data)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        stream = await anyio.connect_unix(path)
        async with open_websocket_client(stream, "localhost", "/") as ws:
            await ws.send(b"unix")
            assert (await ws.receive()).data == b"unix"
        tg.cancel_scope.cancel()


async def test_version_and_flag() -> None:
    assert isinstance(asyncwebsockets.SPEEDUPS, bool)
    assert asyncwebsockets.__version__


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_on_uvloop(codec: SimpleNamespace) -> None:
    """The native transport also runs on uvloop, whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop", reason="uvloop is a test dependency on Linux and macOS")
    import asyncio

    async def exchange() -> Any:
        async with anyio.create_task_group() as tg:
            server = await start(tg)
            async with open_websocket(server.url) as ws:
                await ws.send("over uvloop")
                reply = (await ws.receive()).data
            tg.cancel_scope.cancel()
        return reply

    def run() -> Any:
        return anyio.run(exchange, backend="asyncio", backend_options={"use_uvloop": True})

    assert isinstance(asyncio.get_running_loop(), asyncio.AbstractEventLoop)
    assert await anyio.to_thread.run_sync(run) == "over uvloop"
    del uvloop


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_literal_url(codec: SimpleNamespace) -> None:
    hosts: List[str] = []

    async def host_header(ws: Websocket) -> None:
        assert ws.request is not None
        hosts.append(ws.request.host)
        await ws.send("v6")

    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(host_header, "::1", 0, task_status=task_status))
        async with open_websocket(f"ws://[::1]:{server.port}/") as ws:
            assert (await ws.receive()).data == "v6"
        assert hosts == [f"[::1]:{server.port}"]
        tg.cancel_scope.cancel()


async def test_send_lock_is_fifo_and_survives_cancellation() -> None:
    from asyncwebsockets.websocket import SendLock

    lock = SendLock()
    order: List[int] = []
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
        await anyio.sleep(0.01)
        tg.start_soon(cancelled_waiter)
        await anyio.sleep(0.01)
        tg.start_soon(waiter, 2)
        await anyio.sleep(0.01)
        cancelled.cancel()
        await anyio.sleep(0.01)
        await lock.__aexit__(None, None, None)
    assert order == [1, 2]
    # Free again: taken without waiting.
    with anyio.fail_after(1):
        async with lock:
            pass
