"""Code written for the 0.x releases, run unchanged.

The bodies below follow the 0.x documentation and test suite: they must
keep working, on both backends.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from wsproto.events import BytesMessage, Message, TextMessage

from asyncwebsockets.client import create_websocket_client, open_websocket
from asyncwebsockets.server import open_websocket_server

pytestmark = pytest.mark.anyio


async def _echo_server(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    async def serve_one(s: Any) -> None:
        async with open_websocket_server(s) as w:
            async for m in w:
                if isinstance(m, Message):
                    await w.send(m.data)
                else:
                    break

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.serve(serve_one)


async def test_documented_client_usage() -> None:
    async with anyio.create_task_group() as tg:
        port = await tg.start(_echo_server)
        async with open_websocket(f"ws://127.0.0.1:{port}") as sock:  # no path, as in the 0.x tests
            await sock.send(b"test")
            rcvd = 0
            async for message in sock:
                if isinstance(message, BytesMessage):
                    assert message.data == b"test"
                    rcvd += 1
                    await sock.close(code=1000, reason="Thank you!")
            assert rcvd == 1
        tg.cancel_scope.cancel()


async def test_documented_reply_pattern() -> None:
    async with anyio.create_task_group() as tg:
        port = await tg.start(_echo_server)
        async with open_websocket(f"ws://127.0.0.1:{port}/") as websocket:
            await websocket.send("hi")
            async for evt in websocket:
                if isinstance(evt, TextMessage):
                    assert evt.data == "hi"
                    await websocket.close(1000, reason="Goodbye!")
        tg.cancel_scope.cancel()


async def test_client_on_existing_socket_with_host_string() -> None:
    async with anyio.create_task_group() as tg:
        port = await tg.start(_echo_server)
        conn = await anyio.connect_tcp("127.0.0.1", port)
        sock = await create_websocket_client(conn, "localhost", "/", subprotocols=["echo"])
        await sock.send(b"test")
        rcvd = 0
        async for message in sock:
            if isinstance(message, BytesMessage):
                assert message.data == b"test"
                rcvd += 1
                await sock.close(code=1000, reason="Thank you!")
        assert rcvd == 1
        tg.cancel_scope.cancel()
        await sock.close()


@pytest.mark.parametrize("anyio_backend", ["trio"], indirect=True)
async def test_trio_native_streams() -> None:
    """0.x took trio's own streams (send_all/receive_some): so do we."""
    import trio
    import trio.testing

    async with trio.open_nursery() as n:

        async def serve_one(s: Any) -> None:
            async with open_websocket_server(s) as w:
                async for m in w:
                    if isinstance(m, Message):
                        await w.send(m.data)
                    else:
                        break

        async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            task_status.started(listeners)
            while True:
                s = await listeners[0].accept()
                n.start_soon(serve_one, s)

        listeners = await n.start(serve)
        conn = await trio.testing.open_stream_to_socket_listener(listeners[0])
        sock = await create_websocket_client(conn, "localhost", "/", subprotocols=["echo"])
        await sock.send(b"test")
        rcvd = 0
        async for message in sock:
            if isinstance(message, BytesMessage):
                assert message.data == b"test"
                rcvd += 1
                await sock.close(code=1000, reason="Thank you!")
        assert rcvd == 1
        n.cancel_scope.cancel()
        await sock.close()


async def test_old_except_clauses_still_catch() -> None:
    with pytest.raises(ConnectionError):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
        async with open_websocket(f"ws://127.0.0.1:{port}/"):
            pass
