"""Sending one message from an iterable or async iterable of fragments."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import anyio
import pytest
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import ConnectionClosed, Websocket

from .helpers import ws_and_raw, ws_pair

pytestmark = pytest.mark.anyio


async def test_iterable_and_async_iterable_are_one_message_each(codec: SimpleNamespace) -> None:
    async def produce() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            await anyio.sleep(0.01)
            yield part

    with anyio.fail_after(5):
        async with ws_pair("socketpair") as (client, server):
            await client.send(["héllo", " ", "wörld"])
            await client.send(produce())
            await client.send(iter([b"single"]))
            await client.send([])  # nothing to send: no message
            await client.send("after")
            received = [await server.receive() for _ in range(4)]
    assert received == [
        TextMessage("héllo wörld"),
        BytesMessage(b"one two three"),
        BytesMessage(b"single"),
        TextMessage("after"),
    ]


async def test_fragments_go_out_as_frames_as_they_come(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_and_raw("socketpair") as (ws, raw):
            await ws.send([b"a", b"bb", b"ccc"])
            frames = [await raw.read_frame() for _ in range(3)]
    assert frames == [(False, 2, b"a"), (False, 0, b"bb"), (True, 0, b"ccc")]


async def test_other_sends_wait_for_the_fragmented_message(codec: SimpleNamespace) -> None:
    release = anyio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first half, "
        await release.wait()
        yield "second half"

    with anyio.fail_after(5):
        async with ws_pair("socketpair") as (client, server):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, slow())
                await anyio.sleep(0.05)
                tg.start_soon(client.send, "in between")
                await anyio.sleep(0.05)
                release.set()
            assert [(await server.receive()).data for _ in range(2)] == ["first half, second half", "in between"]


async def test_bad_fragments(codec: SimpleNamespace) -> None:
    with anyio.fail_after(5):
        async with ws_pair("socketpair") as (client, server):
            for bad in (42, {"a": 1}, None):
                with pytest.raises(TypeError, match="iterable"):
                    await client.send(bad)  # type: ignore[arg-type]
            # Nothing went out: the connection is fine.
            await client.send("still fine")
            assert (await server.receive()).data == "still fine"
            # A type change half-way cannot be finished: the connection fails.
            with pytest.raises(TypeError):
                await client.send(["text", b"bytes"])
            assert client.close_code == 1011
            with pytest.raises(ConnectionClosed):
                await client.send("too late")
            received: list[object] = [message async for message in server]
            assert received == []
            assert server.close_code == 1011


#: Every transport: anyio's generic streams (memory, Unix socket pair) and
#: the fast ones over TCP (asyncio's protocol callbacks, trio's socket calls).
KINDS = ["memory", "socketpair", "tcp"]


async def _after_a_half_sent_message(client: Websocket, server: Websocket) -> None:
    """What follows a message that could not be finished: nothing more, both sides see 1011."""
    assert client.close_code == 1011
    with pytest.raises(ConnectionClosed):
        await client.send("an unrelated message")
    received = [message async for message in server]
    assert received == []  # neither the half message nor anything glued onto it
    assert server.close_code == 1011


@pytest.mark.parametrize("kind", KINDS)
async def test_a_producer_that_raises_half_way_fails_the_connection(codec: SimpleNamespace, kind: str) -> None:
    def rows() -> Iterator[str]:
        yield "row 1; "
        yield "row 2; "
        raise KeyError("the database went away")

    with anyio.fail_after(5):
        async with ws_pair(kind) as (client, server):
            with pytest.raises(KeyError):
                await client.send(rows())
            await _after_a_half_sent_message(client, server)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_fragmented_send_cancelled_half_way_fails_the_connection(codec: SimpleNamespace, kind: str) -> None:
    async def slow() -> AsyncIterator[str]:
        yield '{"rows": [1, '
        yield "2, "  # the first frame goes out once this one is known
        await anyio.sleep_forever()
        yield "3]}"

    with anyio.fail_after(5):
        async with ws_pair(kind) as (client, server):
            with anyio.move_on_after(0.1) as scope:
                await client.send(slow())
            assert scope.cancelled_caught
            await _after_a_half_sent_message(client, server)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_send_in_a_cancelled_scope_leaves_the_connection_open(codec: SimpleNamespace, kind: str) -> None:
    with anyio.fail_after(5):
        async with ws_pair(kind) as (client, server):
            with anyio.CancelScope() as scope:
                scope.cancel()
                await client.send("in a cancelled scope")
            assert client.state is ConnectionState.OPEN
            await client.send("after")
            received = [(await server.receive()).data]
            if received[0] != "after":
                received.append((await server.receive()).data)
    # asyncio's transport writes at once, without waiting: the message may go.
    assert received in (["after"], ["in a cancelled scope", "after"])


@pytest.mark.parametrize("kind", ["socketpair", "tcp"])
async def test_a_send_cancelled_waiting_for_its_turn_leaves_the_connection_open(
    codec: SimpleNamespace, kind: str
) -> None:
    big = os.urandom(1 << 23)
    with anyio.fail_after(10):
        async with ws_pair(kind, server={"max_message_size": None, "max_queue": 1}) as (client, server):
            await client.send("first")  # fills the server's queue: it stops reading
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, big)  # blocks: the peer does not read
                await anyio.sleep(0.05)
                with anyio.move_on_after(0.05) as waited:
                    await client.send("behind it")
                assert waited.cancelled_caught
                assert client.state is ConnectionState.OPEN
                tg.start_soon(client.send, "after")
                received = []
                while not received or received[-1] != "after":
                    received.append((await server.receive()).data)
    # asyncio's transport had taken "behind it" whole; trio's never began it.
    assert received in (["first", big, "after"], ["first", big, "behind it", "after"])
