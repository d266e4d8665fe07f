"""The transports keep their contract: deadlines on reads, interruptible waits, gathered writes.

The reader task of a stream transport waits for data with the keepalive
timer as its deadline, and is woken early when the connection changes
(``poke``); the trio fast path implements that wait its own way, so it is
checked on both.  The asyncio transport gathers frames into one write, and
takes over the asyncio transport under an anyio stream handed to it.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

from asyncwebsockets._wakeup import on_trio
from asyncwebsockets.transports import StreamTransport, as_transport, asyncio_open
from asyncwebsockets.transports import asyncio_native as asyncio_transport
from asyncwebsockets.transports import trio_socket as trio_transport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "generic"])
async def test_read_deadlines_and_pokes(anyio_backend: str, fast: bool) -> None:
    peer: SocketStream | None = None
    accepted = anyio.Event()

    async def handle(stream: SocketStream) -> None:
        nonlocal peer
        peer = stream
        accepted.set()
        await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        if fast and anyio_backend == "trio":
            transport: StreamTransport = as_transport(stream)  # type: ignore[assignment]
            assert isinstance(transport, trio_transport.TrioSocketTransport)
        else:
            transport = StreamTransport(stream)
        await accepted.wait()
        assert peer is not None

        async def send_later(delay: float, data: bytes) -> None:
            await anyio.sleep(delay)
            assert peer is not None
            await peer.send(data)

        def deadline(seconds: float) -> float:
            return anyio.current_time() + seconds

        # Data before the deadline, many times over: never a false timeout.
        for _ in range(5):
            tg.start_soon(send_later, 0.05, b"x")
            assert await transport.receive_until(deadline(0.3)) == b"x"

        # Silence: None at the deadline, not before.
        started = anyio.current_time()
        assert await transport.receive_until(deadline(0.2)) is None
        assert 0.19 <= anyio.current_time() - started < 1.5

        # A poke ends a wait early, with no data.
        async def poke_later() -> None:
            await anyio.sleep(0.1)
            transport.poke()

        tg.start_soon(poke_later)
        started = anyio.current_time()
        assert await transport.receive_until(None) is None
        assert anyio.current_time() - started < 1.5

        # Without a deadline it waits as long as it takes.
        tg.start_soon(send_later, 0.3, b"z")
        assert await transport.receive_until(None) == b"z"

        # The peer closing ends the read with b"", deadline or not.
        tg.start_soon(peer.aclose)
        assert await transport.receive_until(deadline(5.0)) == b""
        await transport.aclose()
        tg.cancel_scope.cancel()
    await listener.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_anyio_stream_on_asyncio_is_taken_over(anyio_backend: str) -> None:
    """The 0.x path: an anyio TCP stream gets the asyncio transport, with what anyio already read."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        streams: list[SocketStream] = []
        ready = anyio.Event()

        async def handle(stream: SocketStream) -> None:
            streams.append(stream)
            ready.set()
            await anyio.sleep_forever()

        tg.start_soon(listener.serve, handle)
        client = await anyio.connect_tcp("127.0.0.1", port)
        await ready.wait()
        await client.send(b"first")
        # anyio has read it (into its own queue) before we take over.
        assert await streams[0].receive(2) == b"fi"
        await client.send(b" second")
        await anyio.sleep(0.05)
        transport = as_transport(streams[0])
        assert isinstance(transport, asyncio_transport.AsyncioTransport)
        received = b""
        with anyio.fail_after(5):
            while len(received) < len(b"rst second"):
                received += await transport.receive()
        assert received == b"rst second"
        await transport.send(b"back")
        assert await client.receive() == b"back"
        await transport.aclose()
        await client.aclose()
        tg.cancel_scope.cancel()
    await listener.aclose()


# -- gathering frames into one write (asyncio) ------------------------------------


async def _asyncio_pair() -> tuple[asyncio_transport.AsyncioTransport, SocketStream, list[bytes], Any]:
    """Our asyncio transport connected to a plain anyio stream; counts the socket writes."""
    accepted: list[SocketStream] = []
    ready = anyio.Event()

    async def handle(stream: SocketStream) -> None:
        accepted.append(stream)
        ready.set()
        await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    transport = await asyncio_open.connect("127.0.0.1", port, None, None)
    writes: list[bytes] = []
    real_write = transport._transport.write

    def counting_write(data: bytes) -> None:
        writes.append(bytes(data))
        real_write(data)

    transport._transport.write = counting_write  # type: ignore[method-assign]
    return transport, accepted, writes, (listener, handle, ready)


async def _read_exactly(stream: SocketStream, size: int) -> bytes:
    data = b""
    with anyio.fail_after(5):
        while len(data) < size:
            data += await stream.receive()
    return data


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_frames_sent_with_more_go_out_together(anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    transport, accepted, writes, (listener, handle, ready) = await _asyncio_pair()
    # No send counts as part of a burst here (that is tested below).
    monkeypatch.setattr(asyncio_transport, "BURST_GAP", 0.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        await ready.wait()
        peer = accepted[0]

        # Held back, then written with the first frame sent without ``more``.
        await transport.send(b"a", more=True)
        await transport.send(b"b", more=True)
        assert writes == []
        await transport.send(b"c")
        assert writes == [b"abc"]
        assert await _read_exactly(peer, 3) == b"abc"

        # Held back, and written once the event loop runs, with no further call.
        await transport.send(b"d", more=True)
        await transport.send(b"e", more=True)
        assert writes == [b"abc"]
        assert await _read_exactly(peer, 2) == b"de"
        assert writes == [b"abc", b"de"]

        # Never more than the limit held back.
        big = b"x" * (asyncio_transport.CORK_LIMIT // 2)
        for _ in range(3):
            await transport.send(big, more=True)
        assert writes[2:] == [big + big]
        assert await _read_exactly(peer, 3 * len(big)) == big * 3

        await transport.send(b"f")
        assert await _read_exactly(peer, 1) == b"f"

        # Sends in a quick succession are held back like ones with ``more``.
        monkeypatch.setattr(asyncio_transport, "BURST_GAP", 10.0)
        for part in (b"p", b"q", b"r"):
            await transport.send(part)
        assert writes[-1] == b"f"
        assert await _read_exactly(peer, 3) == b"pqr"
        assert writes[-1] == b"pqr"

        # Closing writes it too.
        await transport.send(b"g", more=True)
        await transport.aclose()
        assert await _read_exactly(peer, 1) == b"g"
        tg.cancel_scope.cancel()
    await listener.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
@pytest.mark.parametrize("violation", [(1, b"\xff\xfe"), (2, b"x" * 200), (3, b"reserved opcode")])
async def test_failing_a_unix_stream_connection_leaves_no_loop_errors(violation: tuple[int, bytes]) -> None:
    """A connection over an anyio Unix socket stream fails cleanly, with nothing left for the loop to report.

    anyio's own receive on such a stream, cancelled at the wrong moment,
    leaves a callback behind that asyncio reports as an InvalidStateError.
    """
    import asyncio
    import gc
    import socket

    from wsproto.events import Message

    from asyncwebsockets import ConnectionClosed, create_websocket_client

    from .test_websocket import RawPeer

    loop_errors: list[Any] = []
    if not on_trio():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
    for close_raw in (False, True):
        a, b = socket.socketpair()
        ours = await anyio.abc.UNIXSocketStream.from_socket(a)
        raw = RawPeer(await anyio.abc.UNIXSocketStream.from_socket(b), masks=False)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(raw.accept)
                ws = await create_websocket_client(ours, "localhost", "/", max_message_size=100)
            await raw.send_frame(*violation)
            if close_raw:
                await raw.aclose()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    assert not isinstance(await ws.receive(), Message)
            assert closed.value.code == {1: 1007, 2: 1009, 3: 1002}[violation[0]]
            await ws.aclose()
            if not close_raw:
                await raw.aclose()
    await anyio.sleep(0.2)
    gc.collect()
    assert loop_errors == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_waiting_to_write_on_a_lost_connection_fails_at_once() -> None:
    """A sender told to wait for the drain of a connection already lost does not wait for ever."""
    import asyncio

    transport = asyncio_transport.AsyncioTransport()
    transport._loop = asyncio.get_running_loop()
    transport.pause_writing()
    transport.connection_lost(None)
    with anyio.fail_after(1), pytest.raises(anyio.BrokenResourceError):
        await transport.drain()


@pytest.mark.parametrize("sent", [0, 1, 9, 10, 11, 70009])
def test_trio_send_rest_of_a_frame_in_two_pieces(sent: int) -> None:
    # What the trio transport sends after a partial sendmsg() or send():
    # the rest of the frame, whichever piece the cut fell in.
    header, payload = bytes(range(10)), os.urandom(70000)
    for data in ((header, payload), header + payload):
        assert b"".join(trio_transport._rest(data, sent)) == (header + payload)[sent:]
