"""The event-loop-specific transports keep the Transport contract: timed reads above all.

Keepalive depends on ``receive(timeout)`` returning None after a silence
of ``timeout`` seconds, and never sooner; the fast transports implement
that timeout their own way (one long-lived timer on asyncio, the I/O
manager directly on trio), so it is checked here on each.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import anyio
import pytest
from anyio.abc import SocketStream

from asyncwebsockets import asyncio_transport, trio_transport
from asyncwebsockets.transport import Transport, as_transport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _fast_transport(anyio_backend: str, port: int) -> Transport:
    """The transport our own connections get on this backend."""
    if anyio_backend == "asyncio":
        assert asyncio_transport.enabled()
        return await asyncio_transport.connect("127.0.0.1", port, None, None)
    transport = as_transport(await anyio.connect_tcp("127.0.0.1", port))
    assert isinstance(transport, trio_transport.TrioSocketTransport)
    return transport


async def test_timed_receive(anyio_backend: str) -> None:
    peer: Optional[SocketStream] = None
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
        transport = await _fast_transport(anyio_backend, port)
        await accepted.wait()
        assert peer is not None

        async def send_later(delay: float, data: bytes) -> None:
            await anyio.sleep(delay)
            assert peer is not None
            await peer.send(data)

        # Data within the timeout, many times over: never a false timeout.
        for _ in range(5):
            tg.start_soon(send_later, 0.05, b"x")
            assert await transport.receive(0.3) == b"x"

        # Silence: None after the timeout, not before.
        started = anyio.current_time()
        assert await transport.receive(0.2) is None
        assert 0.19 <= anyio.current_time() - started < 1.5

        # A long timeout, answered early by data ...
        tg.start_soon(send_later, 0.05, b"y")
        assert await transport.receive(5.0) == b"y"
        # ... then a short one: it must not wait out the long one's deadline.
        started = anyio.current_time()
        assert await transport.receive(0.2) is None
        assert anyio.current_time() - started < 1.5

        # Without a timeout it waits as long as it takes.
        tg.start_soon(send_later, 0.3, b"z")
        assert await transport.receive() == b"z"

        # The peer closing ends the read with b"", timeout or not.
        tg.start_soon(peer.aclose)
        assert await transport.receive(5.0) == b""
        await transport.aclose()
        tg.cancel_scope.cancel()
    await listener.aclose()


# -- gathering frames into one write (asyncio) ------------------------------------


async def _asyncio_pair() -> Tuple[asyncio_transport.AsyncioTransport, SocketStream, List[bytes], Any]:
    """Our asyncio transport connected to a plain anyio stream; counts the socket writes."""
    accepted: List[SocketStream] = []
    ready = anyio.Event()

    async def handle(stream: SocketStream) -> None:
        accepted.append(stream)
        ready.set()
        await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    transport = await asyncio_transport.connect("127.0.0.1", port, None, None)
    writes: List[bytes] = []
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

        # A read about to sleep writes what was held back first.
        await transport.send(b"f", more=True)
        with anyio.move_on_after(0.05):
            await transport.receive(1.0)
        assert writes[-1] == b"f"
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
