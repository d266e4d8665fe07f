"""Code written for the 0.x releases, run unchanged.

The bodies below follow the 0.x documentation and test suite (names,
argument order, keyword names, the ``async for`` loop that closes from
inside, ``except ConnectionError``): they must keep working, on both
backends and with both codecs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import AcceptConnection, BytesMessage, Message, RejectConnection, TextMessage

pytestmark = pytest.mark.anyio

TIMEOUT = 10


async def _echo_server(filter: Any = None, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:  # noqa: A002
    """The 0.x test suite's echo server, on an anyio listener."""
    from asyncwebsockets.server import open_websocket_server

    async def serve_one(s: Any) -> None:
        async with open_websocket_server(s, filter) as w:
            async for m in w:
                if isinstance(m, Message):
                    await w.send(m.data)
                else:
                    break

    async def serve_quietly(s: Any) -> None:
        try:
            await serve_one(s)
        except ConnectionError:
            pass  # a refused or failed handshake: that client's business

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.serve(serve_quietly)


async def with_echo_server(body: Callable[[int], Awaitable[None]], filter: Any = None) -> None:  # noqa: A002
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await tg.start(_echo_server, filter)
            await body(port)
            tg.cancel_scope.cancel()


async def send_test_and_close(sock: Any) -> None:
    """What the 0.x tests did with a connection: send b"test", close once it comes back."""
    await sock.send(b"test")
    rcvd = 0
    async for message in sock:
        if isinstance(message, BytesMessage):
            assert message.data == b"test"
            rcvd += 1
            await sock.close(code=1000, reason="Thank you!")
    assert rcvd == 1


# -- the documented usage ------------------------------------------------------


async def test_documented_client_usage(codec: SimpleNamespace) -> None:
    from asyncwebsockets.client import open_websocket

    async def body(port: int) -> None:
        async with open_websocket(f"ws://127.0.0.1:{port}") as sock:  # no path, as in the 0.x tests
            await send_test_and_close(sock)
        assert sock.close_code == 1000

    await with_echo_server(body)


async def test_documented_reply_pattern(codec: SimpleNamespace) -> None:
    from asyncwebsockets import open_websocket

    async def body(port: int) -> None:
        async with open_websocket(f"ws://127.0.0.1:{port}/") as websocket:
            await websocket.send("Thanks for saying 'hi'!")
            seen: list[Any] = []
            async for evt in websocket:
                # "filter for Message instances, and discern between strings
                # and bytes by checking the type of the .data attribute"
                assert isinstance(evt, Message)
                seen.append(type(evt.data))
                if isinstance(evt, TextMessage):
                    assert evt.data == "Thanks for saying 'hi'!"
                    await websocket.close(1000, reason="Goodbye!")
            assert seen == [str]

    await with_echo_server(body)


async def test_create_websocket_then_close_yourself(codec: SimpleNamespace) -> None:
    from asyncwebsockets.client import create_websocket

    async def body(port: int) -> None:
        ws = await create_websocket(
            f"ws://127.0.0.1:{port}/", None, [("X-Old", "style")], ["echo"]
        )  # positional, as 0.x
        await ws.send("x")
        assert (await ws.__anext__()).data == "x"
        await ws.close()
        await ws.close()  # closing twice is harmless

    await with_echo_server(body)


async def test_client_on_existing_socket_with_host_string(codec: SimpleNamespace) -> None:
    from asyncwebsockets.client import create_websocket_client

    async def body(port: int) -> None:
        conn = await anyio.connect_tcp("127.0.0.1", port)
        sock = await create_websocket_client(conn, "localhost", "/", subprotocols=["echo"])
        assert sock.subprotocol == "echo"  # 0.x servers took the client's first offer
        await send_test_and_close(sock)
        await sock.close()

    await with_echo_server(body)


async def test_0x_keyword_names(codec: SimpleNamespace) -> None:
    from asyncwebsockets.client import create_websocket_client, open_websocket, open_websocket_client

    async def body(port: int) -> None:
        conn = await anyio.connect_tcp("127.0.0.1", port)
        ws = await create_websocket_client(
            conn, addr=("127.0.0.1", port), path="/kw", headers=[("A", "b")], subprotocols=["x"]
        )
        await ws.send("kw")
        assert (await ws.__anext__()).data == "kw"
        await ws.close()
        conn = await anyio.connect_tcp("127.0.0.1", port)
        async with open_websocket_client(conn, ("127.0.0.1", port), "/", [("A", "b")], ["x"]) as ws:
            await ws.send(b"positional")
            assert (await ws.__anext__()).data == b"positional"
        async with open_websocket(f"ws://127.0.0.1:{port}/", [("A", "b")], ["x"]) as ws:
            assert ws.subprotocol == "x"

    await with_echo_server(body)


@pytest.mark.parametrize("anyio_backend", ["trio"], indirect=True)
async def test_trio_native_streams(codec: SimpleNamespace) -> None:
    """The 0.x local echo test: trio's own streams (send_all/receive_some) on both sides."""
    import trio
    import trio.testing

    from asyncwebsockets.client import create_websocket_client
    from asyncwebsockets.server import open_websocket_server

    with trio.fail_after(TIMEOUT):
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
            await send_test_and_close(sock)
            n.cancel_scope.cancel()
            await sock.close()
    assert sock.close_code == 1000


# -- 0.x filters -----------------------------------------------------------------


@pytest.mark.parametrize(
    "decision, subprotocol",
    [(True, "first"), ("second", "second"), (AcceptConnection(subprotocol="second"), "second")],
)
async def test_0x_filter_accepts(codec: SimpleNamespace, decision: Any, subprotocol: str) -> None:
    from asyncwebsockets.client import open_websocket

    async def accept(request: Any) -> Any:
        assert request.target == "/filtered?x=1"
        return decision

    async def body(port: int) -> None:
        async with open_websocket(f"ws://127.0.0.1:{port}/filtered?x=1", subprotocols=["first", "second"]) as ws:
            assert ws.subprotocol == subprotocol
            await ws.send("through")
            assert (await ws.__anext__()).data == "through"

    await with_echo_server(body, accept)


@pytest.mark.parametrize("decision", [False, None, RejectConnection(status_code=400)])
async def test_0x_filter_refuses(codec: SimpleNamespace, decision: Any) -> None:
    from asyncwebsockets.client import open_websocket

    async def refuse(request: Any) -> Any:
        return decision

    async def body(port: int) -> None:
        try:
            async with open_websocket(f"ws://127.0.0.1:{port}/"):
                raise AssertionError("accepted")  # pragma: no cover
        except ConnectionError as exc:  # what 0.x code catches
            assert getattr(exc, "status_code", None) in (400, 403)

    await with_echo_server(body, refuse)


# -- except ConnectionError ------------------------------------------------------


async def test_refused_connection_is_a_connection_error() -> None:
    from asyncwebsockets.client import open_websocket

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ConnectionError):
            async with open_websocket(f"ws://127.0.0.1:{port}/"):
                pass  # pragma: no cover


async def test_silent_server_is_a_connection_error() -> None:
    from asyncwebsockets.client import create_websocket

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with anyio.fail_after(TIMEOUT):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, lambda s: anyio.sleep_forever())
            with pytest.raises(ConnectionError):
                await create_websocket(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
            tg.cancel_scope.cancel()


async def test_using_a_closed_websocket_is_a_connection_error(codec: SimpleNamespace) -> None:
    from asyncwebsockets.client import open_websocket

    async def body(port: int) -> None:
        async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
            await ws.close()
            with pytest.raises(ConnectionError):
                await ws.send("too late")
            with pytest.raises(ConnectionError):
                await ws.receive()
            assert [m async for m in ws] == []  # iteration just ends

    await with_echo_server(body)


async def test_server_side_errors_are_connection_errors() -> None:
    from asyncwebsockets.server import create_websocket_server

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    errors: list[BaseException] = []
    done = anyio.Event()

    async def handle(s: Any) -> None:
        try:
            await create_websocket_server(s)
        except ConnectionError as exc:
            errors.append(exc)
            done.set()

    with anyio.fail_after(TIMEOUT):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no upgrade
            assert (await stream.receive()).startswith(b"HTTP/1.1 426 ")
            await done.wait()
            await stream.aclose()
            tg.cancel_scope.cancel()
    assert len(errors) == 1
