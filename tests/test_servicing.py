"""Connections are looked after whether or not the application reads, and servers survive their handlers.

Every test runs on asyncio and trio (with the fast transports and with
anyio's generic streams, see ``conftest.anyio_backend``); the entry points
are also run under a plain ``asyncio.run()`` and uvloop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
import threading
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import TextMessage

from asyncwebsockets import (
    ConnectionClosed,
    ConnectionClosedOK,
    Websocket,
    create_websocket,
    create_websocket_client,
    create_websocket_server,
    open_websocket,
    serve,
)
from asyncwebsockets.transports import asyncio_native

from .helpers import (
    KEY,
    Peer,
    RawPeer,
    connect,
    echo,
    frame,
    raw_handshake,
    start,
    stream_pair,
    two_backends,
    ws_and_raw,
)

pytestmark = pytest.mark.anyio


# -- a handler that only sends -------------------------------------------------------


async def test_push_only_server_keeps_their_client(codec: SimpleNamespace, peer: Peer) -> None:
    """Their client pings every 0.5 s; our handler never reads, yet answers, and learns of the close."""
    outcome: dict[str, Any] = {}

    async def ticker(ws: Websocket) -> None:
        count = 0
        try:
            while True:
                await ws.send(f"tick {count}")
                count += 1
                await anyio.sleep(0.05)
        except ConnectionClosed as exc:
            outcome["closed"] = (exc.code, exc.reason, anyio.current_time())
            outcome["sent"] = count

    async def their_client(url: str) -> Any:
        async with connect(url, ping_interval=0.5, ping_timeout=0.5) as ws:
            loop = asyncio.get_running_loop()
            end = loop.time() + 2.5
            received = 0
            while loop.time() < end:
                await ws.recv()
                received += 1
            await ws.close(1000, "bye")
            return received

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            server = await start(tg, ticker)
            received = await peer.call(their_client, server.url)
            closed_at = anyio.current_time()
            while "closed" not in outcome:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert received > 20  # still connected after five of their keepalive rounds
    code, reason, when = outcome["closed"]
    assert (code, reason) == (1000, "bye")
    assert when - closed_at < 1.0


async def test_push_only_client_keeps_their_server(codec: SimpleNamespace, peer: Peer) -> None:
    """Our client only sends; their server pings every 0.5 s and then closes: we answer both."""

    async def their_handler(ws: Any) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.5
        count = 0
        while loop.time() < end:
            await ws.recv()
            count += 1
        await ws.close(1000, "enough")
        peer.put(count)

    port = await peer.server(their_handler, ping_interval=0.5, ping_timeout=0.5)
    with anyio.fail_after(20):
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            with pytest.raises(ConnectionClosedOK) as info:
                while True:
                    await ws.send("data")
                    await anyio.sleep(0.05)
            assert (info.value.code, info.value.reason) == (1000, "enough")
    assert await peer.get() > 20


async def test_silent_peer_dropped_while_the_application_is_busy(codec: SimpleNamespace) -> None:
    """Keepalive runs although nobody reads: a peer that answers nothing is failed with 1011."""
    with anyio.fail_after(10):
        async with ws_and_raw("socketpair", ping_interval=0.2, ping_timeout=0.3) as (ws, raw):
            begin = anyio.current_time()
            ping = await raw.read_frame()
            assert ping is not None and ping[1] == 9
            assert await raw.read_close_code() == 1011
            elapsed = anyio.current_time() - begin
            assert elapsed < 0.2 + 0.3 + 1.0
            # The application never read, yet it knows.
            while not ws.closed:
                await anyio.sleep(0.01)
            assert ws.close_code == 1011
            with pytest.raises(ConnectionClosed):
                await ws.send("too late")


async def test_answering_peer_stays_and_latency_is_measured(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, echo)
        with anyio.fail_after(10):
            async with open_websocket(server.url, ping_interval=0.1, ping_timeout=0.2) as ws:
                await anyio.sleep(0.6)  # several keepalive rounds, nobody reading
                assert not ws.closed
                assert 0 < ws.latency < 0.2
                assert 0 < await ws.ping() < 1
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("role", ["client", "server"])
async def test_peer_close_is_answered_without_a_reader(codec: SimpleNamespace, role: str) -> None:
    """The peer's close gets its reply (code and reason echoed) though the application never reads."""
    with anyio.fail_after(10):
        async with ws_and_raw("socketpair", role=role) as (ws, raw):
            await raw.send_frame(8, (4001).to_bytes(2, "big") + "tschüss".encode())
            reply = await raw.read_frame()
            assert reply == (True, 8, (4001).to_bytes(2, "big") + "tschüss".encode())
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(100):
                    await ws.send("x")
                    await anyio.sleep(0.01)
            assert (info.value.code, info.value.reason) == (4001, "tschüss")


# -- bounded queues ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["socketpair", "tcp"])
async def test_queue_bound_stops_reading_then_resumes(codec: SimpleNamespace, kind: str) -> None:
    """With max_queue=4, unread messages stop the reading; taking them resumes it, in order."""
    count = 200  # 12 MB: far more than the socket buffers hold
    sent: list[int] = []
    with anyio.fail_after(20):
        async with ws_and_raw(kind, max_queue=4) as (ws, raw):
            async with anyio.create_task_group() as tg:

                async def flood() -> None:
                    for number in range(count):
                        await raw.send_frame(2, number.to_bytes(4, "big") + b"m" * 60000)
                        sent.append(number)
                    await raw.send_frame(1, b"end")

                tg.start_soon(flood)
                await anyio.sleep(0.5)
                # TCP pushed back: the peer is stuck, our queue is bounded.
                assert len(sent) < count
                # At most the mark plus what one read brought.
                assert ws._receiver.queued <= 4 + 256 * 1024 // 60000 + 1
                if kind == "tcp" and type(ws.transport) is asyncio_native.AsyncioTransport:
                    # asyncio was told to stop, with one more read held.
                    assert ws.transport._stopped
                    assert 0 < sum(map(len, ws.transport._held)) <= asyncio_native.READ_SIZE
                received = []
                async for message in ws:
                    if isinstance(message, TextMessage):
                        break
                    received.append(int.from_bytes(message.data[:4], "big"))
            assert received == list(range(count))


@pytest.mark.parametrize("kind", ["memory", "socketpair", "tcp"])
@pytest.mark.parametrize("role", ["client", "server"])
async def test_every_message_before_the_peers_close_is_delivered(codec: SimpleNamespace, kind: str, role: str) -> None:
    """A burst and the close frame in one write: the bound stops reading, it never drops what came first."""
    with anyio.fail_after(10):
        async with ws_and_raw(kind, role, max_queue=4) as (ws, raw):
            key = KEY if raw.masks else None
            burst = b"".join(frame(1, f"message {number}".encode(), key=key) for number in range(30))
            await raw.send(burst + frame(8, (1000).to_bytes(2, "big") + b"done", key=key))
            # Ours answers the close at once, whether or not the application reads.
            assert await raw.read_close_code() == 1000
            await raw.aclose()
            received = [message.data async for message in ws]
            assert received == [f"message {number}" for number in range(30)]
            assert (ws.close_code, ws.close_reason) == (1000, "done")


@pytest.mark.parametrize("kind", ["memory", "socketpair", "tcp"])
async def test_a_streamed_message_complete_before_the_peers_close_is_whole(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(10):
        async with ws_and_raw(kind, max_queue=4) as (ws, raw):
            pieces = [bytes([number]) * 3 for number in range(40)]
            message = b"".join(
                frame(0 if number else 2, piece, fin=number == 39, key=None) for number, piece in enumerate(pieces)
            )
            # Ours waits for the message before any of it is here.
            async with anyio.create_task_group() as tg:
                streamed: list[bytes] = []

                async def stream() -> None:
                    async for piece in ws.receive_streaming():
                        streamed.append(piece)

                tg.start_soon(stream)
                await anyio.sleep(0.05)
                await raw.send(message + frame(8, (1000).to_bytes(2, "big"), key=None))
                assert await raw.read_close_code() == 1000
                await raw.aclose()
            assert b"".join(streamed) == b"".join(pieces)
            assert [message async for message in ws] == []
            assert ws.close_code == 1000


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
async def test_flood_to_a_server_that_does_not_read_keeps_memory_bounded(codec: SimpleNamespace) -> None:
    """64 KiB messages as fast as TCP takes them, for a second, to a handler that never reads."""
    started = anyio.Event()

    async def sleeper(ws: Websocket) -> None:
        started.set()
        await anyio.sleep_forever()

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    message = frame(2, b"f" * 65536)
    async with anyio.create_task_group() as tg:
        server = await start(tg, sleeper, close_timeout=0.5)
        stream, _ = await raw_handshake(server.port)
        await started.wait()
        gc.collect()
        before = rss()
        sent = 0
        with anyio.move_on_after(1.0):
            while True:
                await stream.send(message)
                sent += len(message)
        growth = rss() - before
        # Our queue (16 messages) and socket buffers: a few MiB at most,
        # where a second of loopback could carry gigabytes.
        assert sent < 64 << 20
        assert growth < 16 << 20, f"RSS grew by {growth} bytes"
        await stream.aclose()
        tg.cancel_scope.cancel()


# -- the server survives and shuts down --------------------------------------------


async def test_shutdown_closes_every_connection_with_1001_within_the_timeout(codec: SimpleNamespace) -> None:
    stubborn_cancelled = anyio.Event()

    async def stubborn(ws: Websocket) -> None:
        try:
            await anyio.sleep_forever()  # ignores the close
        finally:
            stubborn_cancelled.set()

    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(stubborn, "127.0.0.1", 0, task_status=task_status))
        url = f"ws://127.0.0.1:{server.port}/"
        with anyio.fail_after(10):
            clients = [await create_websocket(url) for _ in range(3)]
            while len(server.connections) < 3:
                await anyio.sleep(0.01)
            begin = anyio.current_time()
            await server.aclose(reason="maintenance", timeout=0.5)
            assert anyio.current_time() - begin < 0.5 + 1.0
            assert stubborn_cancelled.is_set()
            assert len(server.connections) == 0
            for ws in clients:
                assert [m async for m in ws] == []
                assert (ws.close_code, ws.close_reason) == (1001, "maintenance")
        # serve() returned: the task group has nothing left to wait for.


async def test_cancelling_serve_lets_handlers_finish(codec: SimpleNamespace) -> None:
    """Cancelled, serve still closes with 1001 and lets handlers run their clean-up."""
    finished: list[str] = []

    async def tidy(ws: Websocket) -> None:
        async for _ in ws:
            pass
        await anyio.sleep(0.1)  # clean-up after the connection ended
        finished.append("tidied")

    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def run(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            with scope:
                await serve(tidy, "127.0.0.1", 0, task_status=task_status)

        server = await tg.start(run)
        with anyio.fail_after(10):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
                while not server.connections:
                    await anyio.sleep(0.01)
                scope.cancel()
                assert [m async for m in ws] == []
                assert ws.close_code == 1001
            await server.wait_closed()
    assert finished == ["tidied"]


async def test_handshake_failures_and_protocol_errors_are_logged(
    codec: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asyncwebsockets")
    async with anyio.create_task_group() as tg:
        server = await start(tg, echo)
        with anyio.fail_after(10):
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no upgrade
            assert (await stream.receive()).startswith(b"HTTP/1.1 426 ")
            await stream.aclose()
            stream, _ = await raw_handshake(server.port)
            await stream.send(frame(1, b"\xff\xfe"))  # invalid UTF-8
            raw = RawPeer(stream, masks=True)
            assert await raw.read_close_code() == 1007
            await stream.aclose()
            # Too big, and the rest of it still arriving in many reads
            # after the failure: logged once all the same.
            stream, _ = await raw_handshake(server.port)
            await stream.send(frame(2, b"x" * (2 << 20)))
            assert await RawPeer(stream, masks=True).read_close_code() == 1009
            await stream.aclose()
            while len([r for r in caplog.records if r.name == "asyncwebsockets.server"]) < 3:
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncwebsockets.server"]
    assert any("handshake" in m and "127.0.0.1" in m for m in messages), messages
    assert any("1007" in m and "127.0.0.1" in m for m in messages), messages
    assert len([m for m in messages if "1009" in m]) == 1, messages


# -- under plain asyncio.run(), uvloop and trio.run() ----------------------------------


async def _user_program() -> list[Any]:
    """A program as a user writes it: a server and a client, started by asyncio alone."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def run_server() -> None:
        async with anyio.create_task_group() as tg:
            server = await tg.start(serve, echo, "127.0.0.1", 0)
            ready.set_result(server.port)

    task = asyncio.create_task(run_server())
    port = await asyncio.wait_for(ready, 5)
    async with open_websocket(f"ws://127.0.0.1:{port}/", headers={"X-Test": "yes"}) as ws:
        await ws.send("hello")
        reply = await ws.receive()
        latency = await ws.ping()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return [reply.data, latency, ws.close_code]


@pytest.mark.parametrize("runner", ["asyncio.run", "uvloop"])
def test_entry_points_under_plain_asyncio(runner: str) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if runner == "uvloop":
                import uvloop

                results.extend(uvloop.run(_user_program()))
            else:
                results.extend(asyncio.run(_user_program()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert not errors, errors
    data, latency, code = results
    assert data == "hello" and code == 1000
    # A microsecond clock: under uvloop the loop's clock ticks in milliseconds.
    assert 0 < latency < 1


def test_entry_points_under_trio_run() -> None:
    trio = pytest.importorskip("trio")

    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve, echo, "127.0.0.1", 0)
            async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("hello")
                reply = await ws.receive()
            server.close()
        return reply.data

    assert trio.run(main) == "hello"


async def _port_probes() -> list[str]:
    """Health checks and port scans: connect and close, or connect and reset, at once.

    Returns the server's log records above DEBUG, and "reply" if a real
    client was still served after them.
    """
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.INFO)
    logging.getLogger("asyncwebsockets").addHandler(keep)
    try:
        async with anyio.create_task_group() as tg:
            server = await tg.start(serve, echo, "127.0.0.1", 0)
            for reset in (False, True) * 5:
                sock = socket.create_connection(("127.0.0.1", server.port))
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
                await anyio.sleep(0.01)
            async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("still there?")
                reply = (await ws.receive()).data
            server.close()
    finally:
        logging.getLogger("asyncwebsockets").removeHandler(keep)
    return [f"{r.levelname} {r.getMessage()}" for r in records if r.levelno > logging.INFO] + [reply]


@pytest.mark.parametrize("runner", ["asyncio.run", "uvloop", "trio.run"])
def test_port_probes_neither_stop_the_server_nor_log_errors(runner: str) -> None:
    results: list[str] = []

    def run() -> None:
        if runner == "uvloop":
            import uvloop

            results.extend(uvloop.run(_port_probes()))
        elif runner == "trio.run":
            import trio

            results.extend(trio.run(_port_probes))
        else:
            results.extend(asyncio.run(_port_probes()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert results == ["still there?"], results


# -- options and headers -------------------------------------------------------------


@two_backends
async def test_headers_as_a_mapping_or_pairs(codec: SimpleNamespace) -> None:
    seen: list[Any] = []

    async def record(request: Any) -> bool:
        seen.append(dict(request.extra_headers))
        return True

    async with anyio.create_task_group() as tg:
        server = await start(tg, echo, filter=record)
        with anyio.fail_after(5):
            for headers in ({"ab": "x", "Authorization": "Bearer t"}, [("ab", "x"), (b"Authorization", b"Bearer t")]):
                async with open_websocket(server.url, headers=headers):
                    pass
            for bad in ("ab: x", [("only-a-name",)], {"x": 1}, 42):
                with pytest.raises(TypeError, match="header"):
                    await create_websocket(server.url, headers=bad)
        tg.cancel_scope.cancel()
    for headers in seen:
        assert headers[b"ab"] == b"x" and headers[b"authorization"] == b"Bearer t"


@two_backends
async def test_a_host_header_given_replaces_the_urls(codec: SimpleNamespace) -> None:
    seen: list[Any] = []

    async def record(request: Any) -> bool:
        seen.append(request.host)
        return True

    async with anyio.create_task_group() as tg:
        server = await start(tg, echo, filter=record)
        with anyio.fail_after(5):
            async with open_websocket(server.url, headers={"Host": "example.test"}) as ws:
                await ws.send("x")
                assert (await ws.receive()).data == "x"
                assert await ws.ping(bytearray(b"ab")) >= 0
                with pytest.raises(TypeError, match="a ping's payload is bytes, not str"):
                    await ws.ping("ab")  # type: ignore[arg-type]
        tg.cancel_scope.cancel()
    assert seen == ["example.test"]


@two_backends
async def test_bad_options_are_refused_before_any_io() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'ping_intervall'"):
        await create_websocket("ws://127.0.0.1:9/", ping_intervall=3)
    with pytest.raises(TypeError, match="max_queue"):
        await create_websocket("ws://127.0.0.1:9/", max_queue="16")
    with pytest.raises(ValueError, match="write_limit"):
        await create_websocket("ws://127.0.0.1:9/", write_limit=(10, 20))
    with pytest.raises(TypeError, match="close_timeout"):
        await create_websocket("ws://127.0.0.1:9/", close_timeout="soon")
    with pytest.raises(TypeError, match="serve"):
        await serve(echo, "127.0.0.1", 0, ping_intervall=3)
    # Names from other libraries are refused with the name to use here.
    with pytest.raises(TypeError, match=r"'max_size' \(here it is called max_message_size\)"):
        await serve(echo, "127.0.0.1", 0, max_size=2**20)
    with pytest.raises(TypeError, match=r"'extra_headers' \(here it is called headers\)"):
        await create_websocket("ws://127.0.0.1:9/", extra_headers={"X-A": "1"})
    with pytest.raises(TypeError, match=r"'additional_headers' \(here it is called headers\)"):
        await create_websocket("ws://127.0.0.1:9/", additional_headers={"X-A": "1"})
    with pytest.raises(TypeError, match=r"'heartbeat' \(here it is called ping_interval\)"):
        await create_websocket("ws://127.0.0.1:9/", heartbeat=5)
    # A lone string is not a list of its characters.
    with pytest.raises(TypeError, match="subprotocols is a list of str, not str"):
        await create_websocket("ws://127.0.0.1:9/", subprotocols="chat")
    with pytest.raises(TypeError, match="subprotocols is a list of str, not str"):
        await serve(echo, "127.0.0.1", 0, subprotocols="chat")
    with pytest.raises(TypeError, match="subprotocols"):
        await create_websocket("ws://127.0.0.1:9/", subprotocols=["chat", 2])
    with pytest.raises(TypeError, match="origin is a str, not int"):
        await create_websocket("ws://127.0.0.1:9/", origin=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="user_agent_header is a str, not int"):
        await create_websocket("ws://127.0.0.1:9/", user_agent_header=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ssl is an ssl.SSLContext, True, False or None, not str"):
        await create_websocket("ws://127.0.0.1:9/", ssl="yes")  # type: ignore[arg-type]
    # A line break in a header would end it and could start another.
    for headers in ({"X-V": "a\r\nInjected: 1"}, [(b"X-V\n", b"a")], {"X-V": "a\0"}):
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            await create_websocket("ws://127.0.0.1:9/", headers=headers)


@two_backends
async def test_port_zero_on_every_interface_is_one_port() -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(echo, None, 0, task_status=task_status))
        assert len(set(server.ports)) == 1
        with anyio.fail_after(5):
            for host in ("127.0.0.1", "[::1]") if socket.has_ipv6 else ("127.0.0.1",):
                async with open_websocket(f"ws://{host}:{server.port}/") as ws:
                    await ws.send(host)
                    assert (await ws.receive()).data == host
        tg.cancel_scope.cancel()


# -- closing is bounded -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "socketpair"])
async def test_close_against_a_silent_peer_takes_close_timeout_once(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(10):
        async with ws_and_raw(kind, close_timeout=0.4) as (ws, raw):
            begin = anyio.current_time()
            await ws.close()
            elapsed = anyio.current_time() - begin
            assert 0.39 <= elapsed < 0.4 + 0.3
            assert ws.close_code == 1006


@two_backends
async def test_create_functions_are_serviced_too(codec: SimpleNamespace) -> None:
    """Connections made with create_* over any stream answer pings with nobody reading."""
    a, b = await stream_pair("socketpair")
    made: list[Websocket] = []
    async with anyio.create_task_group() as tg:

        async def accept() -> None:
            made.append(await create_websocket_server(b))

        tg.start_soon(accept)
        client = await create_websocket_client(a, "localhost", "/")
    server_ws = made[0]
    with anyio.fail_after(5):
        assert await client.ping() > 0
        assert await server_ws.ping() > 0
        await client.close(1000, "done")
        assert (client.close_code, server_ws.close_code) == (1000, 1000)
    assert server_ws.close_reason == "done"


@pytest.mark.skipif(sys.platform == "win32", reason="needs the asyncio transport on a POSIX loop")
@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_asyncio_server_and_client_use_the_callback_transport(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, echo)
        async with open_websocket(server.url) as ws:
            assert isinstance(ws.transport, asyncio_native.AsyncioTransport)
        tg.cancel_scope.cancel()


async def test_pings_answered_while_the_application_works_between_reads(codec: SimpleNamespace) -> None:
    """An application that read a message and then works: the connection answers pings meanwhile."""
    with anyio.fail_after(10):
        async with ws_and_raw("socketpair") as (ws, raw):
            for round_ in range(3):
                await raw.send_frame(1, f"job {round_}".encode())
                assert (await ws.receive()).data == f"job {round_}"
                # The application now works on its job, not reading...
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.sleep, 0.3)
                    begin = anyio.current_time()
                    await raw.send_frame(9, b"are you there")
                    assert await raw.read_frame() == (True, 10, b"are you there")
                    assert anyio.current_time() - begin < 0.2
            # ... and what came meanwhile is still there, in order.
            for number in range(20):
                await raw.send_frame(2, bytes([number]))
            assert [(await ws.receive()).data for _ in range(20)] == [bytes([n]) for n in range(20)]
