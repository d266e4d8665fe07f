"""Receiving one message as the fragments it arrives in: ``Websocket.receive_streaming()``.

Against the websockets library sending fragmented messages (it sends an
iterable as one message, a frame per item), and against a raw peer for
what a conforming peer never sends.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import ConnectionClosed, open_websocket

from .helpers import OP_BINARY, OP_CONT, OP_TEXT, TEST_TIMEOUT, Peer, ws_and_raw, ws_pair

pytestmark = pytest.mark.anyio


async def collect(stream: Any) -> list[str | bytes]:
    return [fragment async for fragment in stream]


async def stream_next(ws: Any, signal: str = "ready") -> list[str | bytes]:
    """Claim the next message for a stream, then tell the peer to send it; its fragments."""
    fragments: list[str | bytes] = []

    async def streamer() -> None:
        fragments.extend(await collect(ws.receive_streaming()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(streamer)
        while ws._receiver.stream is None:
            await anyio.sleep(0.01)
        await ws.send(signal)
    return fragments


async def test_their_fragmented_messages_come_fragment_by_fragment(codec: SimpleNamespace, peer: Peer) -> None:
    """Each fragment is handed over before the peer has sent the next one."""
    big = random.Random(1).randbytes(300_000)

    async def talker(ws: Any) -> None:
        await ws.send("whole, and queued before streaming starts")

        async def pieces() -> AsyncIterator[str]:
            for piece in ("ünï", "cødé ✓", " 𝄞"):
                yield piece
                # The next fragment only once we have shown we got this one.
                assert await ws.recv() == "got " + piece

        await ws.send(pieces())
        assert await ws.recv() == "ready"
        await ws.send(big[i : i + 70_000] for i in range(0, len(big), 70_000))
        await ws.send([b"", b"", b""])
        await ws.send("last")
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(talker)
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=100_000) as ws:
            await anyio.sleep(0.1)  # the first message is queued whole
            assert await collect(ws.receive_streaming()) == ["whole, and queued before streaming starts"]
            fragments = []
            async for fragment in ws.receive_streaming():
                fragments.append(fragment)
                await ws.send(f"got {fragment}")
            assert fragments == ["ünï", "cødé ✓", " 𝄞"]
            # Each frame of 70,000 bytes is within the limit; the message is
            # not, so it must be claimed before it arrives.
            assert b"".join(await stream_next(ws)) == big  # type: ignore[arg-type]
            # An empty message yields one empty fragment.
            assert await collect(ws.receive_streaming()) == [b""]
            assert await ws.receive() == TextMessage("last")


async def test_pings_answered_while_the_application_holds_a_fragment(codec: SimpleNamespace, peer: Peer) -> None:
    async def talker(ws: Any) -> None:
        async def pieces() -> AsyncIterator[bytes]:
            yield b"first"
            # Between two frames of the message, while the application
            # sits on the first: its connection still answers.
            pong = await ws.ping(b"are you there")
            await pong
            peer.put("pong")
            yield b"second"

        await ws.send(pieces())
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(talker)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            stream = ws.receive_streaming()
            assert await stream.__anext__() == b"first"
            assert await peer.get() == "pong"
            assert await collect(stream) == [b"second"]


async def test_compressed_fragmented_messages(codec: SimpleNamespace, peer: Peer) -> None:
    text = "compressible ✓ " * 5000

    async def talker(ws: Any) -> None:
        assert await ws.recv() == "ready"
        await ws.send(text[i : i + 10_000] for i in range(0, len(text), 10_000))
        await ws.send(text)
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(talker, compression="deflate")
        async with open_websocket(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            assert ws.compression is not None
            fragments = await stream_next(ws)
            assert len(fragments) > 1
            assert "".join(fragments) == text  # type: ignore[arg-type]
            assert "".join(await collect(ws.receive_streaming())) == text  # type: ignore[arg-type]


async def test_leaving_early_drops_the_rest_of_the_message(codec: SimpleNamespace, peer: Peer) -> None:
    """Even when the rest is more than the fragment queue holds, so that reading had stopped."""

    async def talker(ws: Any) -> None:
        await ws.send(b"%d" % i for i in range(200))
        await ws.send("next")
        await ws.send(b"x%d" % i for i in range(100))
        await ws.send("after that")
        await ws.wait_closed()

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(talker)
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_queue=4) as ws:
            async for fragment in ws.receive_streaming():
                assert fragment.startswith(b"0")  # type: ignore[arg-type]
                await anyio.sleep(0.2)  # the queue fills up and reading stops
                break
            assert await ws.receive() == TextMessage("next")
            stream = ws.receive_streaming()
            assert (await stream.__anext__()).startswith(b"x0")  # type: ignore[arg-type]
            await stream.aclose()
            assert await collect(stream) == []
            assert await ws.receive() == TextMessage("after that")


async def test_fragment_queue_is_bounded(codec: SimpleNamespace) -> None:
    """Fragments the application has not taken stop the reading, as queued messages do."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("socketpair", max_queue=(4, 1)) as (ws, raw):
            sent = anyio.Event()

            async def flood() -> None:
                await raw.send_frame(OP_BINARY, b"start", fin=False)
                for _ in range(5000):
                    await raw.send_frame(OP_CONT, b"." * 1000, fin=False)
                await raw.send_frame(OP_CONT, b"end")
                sent.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(flood)
                stream = ws.receive_streaming()
                assert await stream.__anext__() == b"start"
                await anyio.sleep(0.3)
                assert ws._receiver.paused
                # The high-water mark, plus at most the frames of one read.
                assert 4 <= stream.held <= 4 + 66
                assert not sent.is_set()
                rest = await collect(stream)
            assert rest[-1] == b"end"
            assert len(rest) == 5001


async def test_a_partly_received_message_starts_with_what_is_here(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("socketpair") as (ws, raw):
            text = "naïve".encode()
            await raw.send_frame(OP_TEXT, text[:3], fin=False)  # ends inside "ï"
            await raw.send_frame(OP_CONT, text[3:4], fin=False)
            await anyio.sleep(0.1)
            stream = ws.receive_streaming()
            assert await stream.__anext__() == "naï"
            await raw.send_frame(OP_CONT, text[4:])
            assert await collect(stream) == ["ve"]


async def test_invalid_utf8_across_fragments_fails_with_1007(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("memory") as (ws, raw):
            stream = ws.receive_streaming()
            await raw.send_frame(OP_TEXT, b"ok \xe2\x82", fin=False)
            assert await stream.__anext__() == "ok "
            await raw.send_frame(OP_CONT, b"A")
            with pytest.raises(ConnectionClosed) as info:
                await stream.__anext__()
            assert info.value.code == 1007
            assert await raw.read_close_code() == 1007


async def test_a_frame_over_the_limit_fails_a_streamed_message_with_1009(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("memory", max_message_size=100) as (ws, raw):
            stream = ws.receive_streaming()
            await raw.send_frame(OP_BINARY, b"." * 100, fin=False)
            await raw.send_frame(OP_CONT, b"." * 101)
            assert await stream.__anext__() == b"." * 100
            with pytest.raises(ConnectionClosed) as info:
                await stream.__anext__()
            assert info.value.code == 1009


async def test_the_connection_closing_mid_message(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("memory") as (ws, raw):
            await raw.send_frame(OP_BINARY, b"half", fin=False)
            await raw.send_frame(0x8, b"\x03\xe8bye")
            stream = ws.receive_streaming()
            assert await stream.__anext__() == b"half"
            with pytest.raises(ConnectionClosed) as info:
                await stream.__anext__()
            assert (info.value.code, info.value.reason) == (1000, "bye")
            # And on a closed connection, a stream ends at once the same way.
            with pytest.raises(ConnectionClosed):
                await ws.receive_streaming().__anext__()


async def test_one_stream_at_a_time_other_receivers_get_the_next_message(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_pair("socketpair") as (client, server):
            received: list[Any] = []
            streamed: list[Any] = []

            async def receiver() -> None:
                received.append(await server.receive())

            async def streamer() -> None:
                async for fragment in server.receive_streaming():
                    streamed.append(fragment)
                    first_fragment.set()
                    await go_on.wait()  # the stream is unfinished meanwhile

            first_fragment, go_on = anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(receiver)  # waiting before the stream is
                await anyio.sleep(0.05)
                tg.start_soon(streamer)
                await anyio.sleep(0.05)
                await client.send(["a", "b", "c"])
                await first_fragment.wait()
                with pytest.raises(RuntimeError, match="another task"):
                    await server.receive_streaming().__anext__()
                go_on.set()
                await client.send("the next message")
            assert streamed == ["a", "b", "c"]
            assert received == [TextMessage("the next message")]


async def test_cancelled_before_the_message_leaves_it_whole(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_pair("socketpair") as (client, server):
            stream = server.receive_streaming()
            with anyio.move_on_after(0.1):
                await stream.__anext__()
            await client.send([b"a", b"b"])
            assert await server.receive() == BytesMessage(b"ab")
            # The stream was not ended by the cancellation: it takes the next one.
            await client.send("c")
            assert await collect(stream) == ["c"]


async def test_same_task_receiving_again_abandons_its_stream(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_and_raw("socketpair") as (ws, raw):
            stream = ws.receive_streaming()
            await raw.send_frame(OP_BINARY, b"a", fin=False)
            assert await stream.__anext__() == b"a"
            # Still holding the stream, the task moves on to the next message
            # while the rest of this one is still arriving.
            await raw.send_frame(OP_CONT, b"b", fin=False)

            async def rest() -> None:
                await anyio.sleep(0.1)
                await raw.send_frame(OP_CONT, b"c")
                await raw.send_frame(OP_TEXT, b"next")

            async with anyio.create_task_group() as tg:
                tg.start_soon(rest)
                assert await ws.receive() == TextMessage("next")
            assert await collect(stream) == []


async def test_without_reassembly_the_queued_frames_are_streamed(codec: SimpleNamespace) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with ws_pair("socketpair", server={"reassemble": False}) as (client, server):
            await client.send([b"a", b"b", b"c"])
            await client.send("d")
            assert await collect(server.receive_streaming()) == [b"a", b"b", b"c"]
            assert await collect(server.receive_streaming()) == ["d"]
