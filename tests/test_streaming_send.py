"""Sending one message from an iterable or async iterable of fragments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import anyio
import pytest
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import ConnectionClosed

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
