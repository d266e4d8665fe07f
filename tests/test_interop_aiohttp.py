"""Interoperability with aiohttp, a second independent implementation.

As with ``websockets`` (see test_interop_websockets.py), aiohttp runs on its
own asyncio event loop in a worker thread, so our side runs on asyncio and
on trio alike.  Both directions: their client against our server, our
client against their server.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import Websocket, open_websocket

from .helpers import (
    LIMIT,
    PAYLOADS,
    TEST_TIMEOUT,
    Peer,
    aiohttp_data,
    aiohttp_server,
    start_ours,
)

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is a test dependency: pip install '.[test]'")
web = pytest.importorskip("aiohttp.web")

pytestmark = pytest.mark.anyio


# -- their client, our server -------------------------------------------------------


async def test_their_client_our_server(codec: SimpleNamespace, peer: Peer) -> None:
    closes: list[tuple[Any, Any]] = []

    async def echo(ws: Websocket) -> None:
        async for message in ws:
            await ws.send(message.data)
        closes.append((ws.close_code, ws.close_reason))

    async def client(port: int) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://127.0.0.1:{port}/", max_msg_size=LIMIT, autoping=True) as ws:
                echoed = []
                for payload in PAYLOADS:
                    if isinstance(payload, str):
                        await ws.send_str(payload)
                    else:
                        await ws.send_bytes(payload)
                    echoed.append(aiohttp_data(await ws.receive()))
                # Our server answers their ping; aiohttp consumes the pong.
                await ws.ping(b"are you there")
                await ws.send_str("after the ping")
                after = aiohttp_data(await ws.receive())
                await ws.close(code=4001, message=b"bye now")
                return {"echoed": echoed, "after": after, "close_code": ws.close_code}

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(TEST_TIMEOUT):
            port = await start_ours(tg, echo, max_message_size=LIMIT)
            result = await peer.call(client, port)
            while not closes:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert result["echoed"] == PAYLOADS
    assert result["after"] == "after the ping"
    # Their close frame reached our handler as sent; our reply echoed its code.
    assert closes == [(4001, "bye now")]
    assert result["close_code"] == 4001


async def test_their_client_refused_by_our_filter(codec: SimpleNamespace, peer: Peer) -> None:
    from asyncwebsockets import Reject, serve

    async def never(ws: Websocket) -> None:
        raise AssertionError("refused clients reach no handler")

    async def refuse(request: Any) -> Any:
        return Reject(401, [("WWW-Authenticate", 'Basic realm="ws"')], "who are you?")

    async def client(port: int) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(f"ws://127.0.0.1:{port}/")
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status, exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
        raise AssertionError("the handshake should have been refused")

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(TEST_TIMEOUT):
            server = await tg.start(
                lambda task_status: serve(never, "127.0.0.1", 0, filter=refuse, task_status=task_status)
            )
            status, challenge = await peer.call(client, server.port)
        tg.cancel_scope.cancel()
    assert status == 401
    assert challenge == 'Basic realm="ws"'


# -- our client, their server -------------------------------------------------------


async def test_our_clientaiohttp_server(codec: SimpleNamespace, peer: Peer) -> None:
    async def echo_then_close(ws: Any) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "close, please":
                await ws.close(code=4002, message=b"as you wish")
                return
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
            else:
                await ws.send_bytes(message.data)

    port = await aiohttp_server(peer, echo_then_close)
    with anyio.fail_after(TEST_TIMEOUT):
        async with open_websocket(f"ws://127.0.0.1:{port}/", max_message_size=LIMIT) as ws:
            for payload in PAYLOADS:
                await ws.send(payload)
                reply = await ws.receive()
                assert type(reply) is (TextMessage if isinstance(payload, str) else BytesMessage)
                assert reply.data == payload
            # A message in fragments arrives whole.
            await ws.send("frag", final=False)
            await ws.send("men", final=False)
            await ws.send("ted")
            assert (await ws.receive()).data == "fragmented"
            # Their pongs answer our pings.
            assert await ws.ping() >= 0
            await ws.send("close, please")
            assert [message async for message in ws] == []
        assert (ws.close_code, ws.close_reason) == (4002, "as you wish")
