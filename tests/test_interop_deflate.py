"""permessage-deflate against independent implementations: websockets and aiohttp.

Both directions, with several negotiated parameter sets.  Every test first
checks that the extension was negotiated, and with the same parameters on
both ends, then that messages of every kind (compressible, incompressible,
empty, repeated so that context takeover matters) cross intact both ways.
Their side runs in a worker thread (see test_interop_websockets.py).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirDeflate

from asyncwebsockets import PerMessageDeflate, Websocket, open_websocket

from .helpers import (
    LIMIT,
    TEST_TIMEOUT,
    Peer,
    aiohttp_data,
    aiohttp_server,
    as_message,
    connect,
    start_ours,
)

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is a test dependency: pip install '.[test]'")
web = pytest.importorskip("aiohttp.web")

pytestmark = pytest.mark.anyio

#: Compressible and not, empty, and the same message again (which context
#: takeover sends in a few bytes).
MESSAGES: list[Any] = [
    "hello",
    "hello",
    "",
    b"",
    "ünïcødé ✓ 𝄞 中文 😀 " * 500,
    b"\x00" * 300_000,
    os.urandom(100_000),
    "the same again " * 1000,
    "the same again " * 1000,
    b"\x01\x02",
]

ASKED = "asked"  # what a test's expected agreement compares against


def _agreed_fields(settings: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    return (
        settings.server_no_context_takeover,
        settings.client_no_context_takeover,
        settings.server_max_window_bits,
        settings.client_max_window_bits,
    )


def _their_view(extensions: list[Any], client: bool) -> tuple[bool, bool, int, int]:
    """What websockets agreed to, as (server_nct, client_nct, server_bits, client_bits)."""
    (extension,) = extensions
    assert isinstance(extension, TheirDeflate)
    if client:
        return (
            extension.remote_no_context_takeover,
            extension.local_no_context_takeover,
            extension.remote_max_window_bits,
            extension.local_max_window_bits,
        )
    return (
        extension.local_no_context_takeover,
        extension.remote_no_context_takeover,
        extension.local_max_window_bits,
        extension.remote_max_window_bits,
    )


def _their_options(theirs: Any) -> dict[str, Any]:
    """Options for their client or server: their default deflate, or exactly ``theirs``."""
    if theirs is None:
        return {"max_size": LIMIT, "compression": "deflate"}
    return {"max_size": LIMIT, "compression": None, "extensions": [theirs]}


async def _echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


# -- websockets: their client, our server ------------------------------------------------------

THEIR_CLIENTS = [
    # (their factory or None for compression="deflate", our settings, agreed fields)
    (None, PerMessageDeflate(), (False, False, 15, 15)),
    (
        ClientPerMessageDeflateFactory(server_max_window_bits=11, client_max_window_bits=10),
        PerMessageDeflate(),
        (False, False, 11, 10),
    ),
    (
        ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True),
        PerMessageDeflate(),
        (True, True, 15, 15),
    ),
    (None, PerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=9), (True, False, 15, 9)),
    (
        ClientPerMessageDeflateFactory(client_max_window_bits=12),
        PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=10, client_no_context_takeover=True),
        (False, True, 9, 10),
    ),
]


@pytest.mark.parametrize("theirs, ours, agreed", THEIR_CLIENTS)
async def test_their_client_our_server(
    codec: SimpleNamespace, peer: Peer, theirs: Any | None, ours: PerMessageDeflate, agreed: tuple[bool, bool, int, int]
) -> None:
    negotiated: list[PerMessageDeflate | None] = []

    async def handler(ws: Websocket) -> None:
        negotiated.append(ws.compression)
        await _echo(ws)

    async def client(port: int) -> tuple[Any, list[Any]]:
        async with connect(f"ws://127.0.0.1:{port}/", **_their_options(theirs)) as ws:
            echoes = []
            for message in MESSAGES:
                await ws.send(message)
                echoes.append(await ws.recv())
            return ws.protocol.extensions, echoes

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, max_message_size=LIMIT, compression=ours)
            extensions, echoes = await peer.call(client, port)
            tg.cancel_scope.cancel()
    assert negotiated and negotiated[0] is not None
    assert _agreed_fields(negotiated[0]) == agreed
    assert _their_view(extensions, client=True) == agreed
    assert echoes == MESSAGES


async def test_their_client_our_server_without_compression(codec: SimpleNamespace, peer: Peer) -> None:
    """Off by default: their offer is declined, and messages still cross."""
    negotiated: list[PerMessageDeflate | None] = []

    async def handler(ws: Websocket) -> None:
        negotiated.append(ws.compression)
        await _echo(ws)

    async def client(port: int) -> tuple[Any, Any]:
        async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            await ws.send("plain " * 100)
            return ws.protocol.extensions, await ws.recv()

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler)
            extensions, echo = await peer.call(client, port)
            tg.cancel_scope.cancel()
    assert negotiated == [None]
    assert extensions == []
    assert echo == "plain " * 100


# -- websockets: our client, their server ------------------------------------------------------

THEIR_SERVERS = [
    # (their factory or None for compression="deflate", our settings, agreed fields)
    (None, PerMessageDeflate(), (False, False, 12, 12)),
    (
        ServerPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True),
        PerMessageDeflate(),
        (True, True, 15, 15),
    ),
    (
        ServerPerMessageDeflateFactory(),
        PerMessageDeflate(server_max_window_bits=10, client_max_window_bits=9),
        (False, False, 10, 9),
    ),
    (ServerPerMessageDeflateFactory(client_max_window_bits=11), PerMessageDeflate(), (False, False, 15, 11)),
    (ServerPerMessageDeflateFactory(), PerMessageDeflate(server_no_context_takeover=True), (True, False, 15, 15)),
]


@pytest.mark.parametrize("theirs, ours, agreed", THEIR_SERVERS)
async def test_our_clientaiohttp_server(
    codec: SimpleNamespace, peer: Peer, theirs: Any | None, ours: PerMessageDeflate, agreed: tuple[bool, bool, int, int]
) -> None:
    async def echo(ws: Any) -> None:
        peer.put(_their_view(ws.protocol.extensions, client=False))
        async for message in ws:
            await ws.send(message)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(echo, **_their_options(theirs))
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=LIMIT, compression=ours) as ws:
            assert ws.compression is not None
            assert _agreed_fields(ws.compression) == agreed
            assert await peer.get() == agreed
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.receive() == as_message(message)
            # Fragments go uncompressed within a compressed connection.
            await ws.send("frag", final=False)
            await ws.send("ment")
            assert await ws.receive() == as_message("fragment")
        assert ws.close_code == 1000


async def test_our_client_their_server_declining(codec: SimpleNamespace, peer: Peer) -> None:
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(echo, compression=None)
        async with open_websocket(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            assert ws.compression is None
            await ws.send("plain")
            assert await ws.receive() == as_message("plain")


async def test_their_bomb_is_refused(codec: SimpleNamespace, peer: Peer) -> None:
    """A compressed message over our limit fails the connection with 1009, however small on the wire."""

    async def bomb(ws: Any) -> None:
        await ws.send(b"\x00" * 1_000_000)
        peer.put("sent")
        await ws.wait_closed()
        peer.put(ws.close_code)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await peer.server(bomb, compression="deflate")
        async with open_websocket(f"ws://127.0.0.1:{port}/", compression="deflate", max_message_size=100_000) as ws:
            assert ws.compression is not None
            assert [message async for message in ws] == []
        assert ws.close_code == 1009
        assert await peer.get() == "sent"
        assert await peer.get() == 1009


# -- aiohttp --------------------------------------------------------------------------------------


async def _send(ws: Any, message: Any) -> None:
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)


@pytest.mark.parametrize("wbits", [15, 10])
async def test_aiohttp_client_our_server(codec: SimpleNamespace, peer: Peer, wbits: int) -> None:
    negotiated: list[PerMessageDeflate | None] = []

    async def handler(ws: Websocket) -> None:
        negotiated.append(ws.compression)
        await _echo(ws)

    async def client(port: int) -> tuple[int, list[Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://127.0.0.1:{port}/", compress=wbits, max_msg_size=LIMIT) as ws:
                echoes = []
                for message in MESSAGES:
                    await _send(ws, message)
                    echoes.append(aiohttp_data(await ws.receive()))
                return ws.compress, echoes

    with anyio.fail_after(TEST_TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await start_ours(tg, handler, max_message_size=LIMIT, compression="deflate")
            compress, echoes = await peer.call(client, port)
            tg.cancel_scope.cancel()
    # Negotiated: aiohttp reports its own window, and we use the one it asked for ours.
    assert compress == 15
    assert negotiated[0] is not None and _agreed_fields(negotiated[0]) == (False, False, wbits, 15)
    assert echoes == MESSAGES


async def test_our_client_aiohttp_server(codec: SimpleNamespace, peer: Peer) -> None:

    async def echo(ws: Any) -> None:
        peer.put(ws.compress)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
            else:
                await ws.send_bytes(message.data)

    with anyio.fail_after(TEST_TIMEOUT):
        port = await aiohttp_server(peer, echo)
        async with open_websocket(f"ws://127.0.0.1:{port}/", compression="deflate", max_message_size=LIMIT) as ws:
            assert ws.compression is not None
            assert await peer.get() == 15
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.receive() == as_message(message)
