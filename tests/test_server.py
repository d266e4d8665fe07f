"""The server side: filters, subprotocols, bad clients, and `serve` from start to shutdown."""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import Listener
from wsproto.events import AcceptConnection, RejectConnection, Request, TextMessage

from asyncwebsockets import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRejected,
    HandshakeTimeout,
    Reject,
    Websocket,
    WebSocketServer,
    create_websocket,
    create_websocket_server,
    open_websocket,
    open_websocket_server,
    serve,
    serve_listener,
)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

from .helpers import (
    RawPeer,
    Recorder,
    echo,
    frame,
    head_of,
    memory_pipe,
    raw_client,
    start,
    two_backends,
)

pytestmark = pytest.mark.anyio


async def server_on_pipe(client_actions: Any, **options: Any) -> tuple[Websocket | None, BaseException | None]:
    """Run create_websocket_server on one end of a pipe and ``client_actions(raw)`` on the other."""
    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=True)
    result: list[Any] = [None, None]

    async def run_server() -> None:
        try:
            result[0] = await create_websocket_server(ours, **options)
        except BaseException as exc:  # noqa: B036, BLE001 - handed to the test
            result[1] = exc

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            await client_actions(raw)
    return result[0], result[1]


# -- filters ------------------------------------------------------------------


FILTER_CASES: dict[str, tuple[Any, str | None, int | None]] = {
    # name: (filter result, subprotocol the client gets, or the status it is refused with)
    "True": (True, "a", None),  # no subprotocols= given: the client's first offer, as 0.x did
    "str": ("b", "b", None),
    "AcceptConnection": (AcceptConnection(subprotocol="b", extra_headers=[(b"x-accepted", b"yes")]), "b", None),
    "AcceptConnection-none": (AcceptConnection(), None, None),
    "False": (False, None, 403),
    "None": (None, None, 403),
    "RejectConnection": (RejectConnection(status_code=404), None, 404),
    "Reject": (Reject(451, [("X-Reason", "legal")], "unavailable"), None, 451),
    "Reject-bytes": (Reject(429, body=b"slow down"), None, 429),
    "Reject-redirect": (Reject(307, [("Location", "ws://elsewhere/")]), None, 307),
}


@pytest.mark.parametrize("case", list(FILTER_CASES), ids=list(FILTER_CASES))
async def test_filter_results(codec: SimpleNamespace, case: str) -> None:
    decision, subprotocol, status = FILTER_CASES[case]
    seen: list[Request] = []

    async def decide(request: Request) -> Any:
        seen.append(request)
        return decision

    async with anyio.create_task_group() as tg:
        server = await start(tg, echo, filter=decide)
        url = server.url + "room/7?user=ann&lang=fr"
        with anyio.fail_after(5):
            if status is None:
                async with open_websocket(url, headers=[("X-Custom", "1")], subprotocols=["a", "b"]) as ws:
                    assert ws.subprotocol == subprotocol
                    if case == "AcceptConnection":
                        assert (b"x-accepted", b"yes") in ws.response_headers
                    await ws.send("accepted")
                    assert (await ws.receive()).data == "accepted"
                assert ws.close_code == 1000
            else:
                with pytest.raises(HandshakeRejected) as info:
                    # max_redirects=0: the redirect is reported, not followed.
                    await create_websocket(url, headers=[("X-Custom", "1")], subprotocols=["a", "b"], max_redirects=0)
                assert info.value.status_code == status
                assert isinstance(info.value, ConnectionError)
                if case == "Reject":
                    assert info.value.body == b"unavailable"
                    assert (b"x-reason", b"legal") in info.value.headers
                if case == "Reject-bytes":
                    assert info.value.body == b"slow down"
                if case == "Reject-redirect":
                    assert (b"location", b"ws://elsewhere/") in info.value.headers
        # The filter saw the whole request.
        (request,) = seen
        assert request.target == "/room/7?user=ann&lang=fr"
        assert request.host == f"127.0.0.1:{server.port}"
        assert request.subprotocols == ["a", "b"]
        assert (b"x-custom", b"1") in request.extra_headers
        tg.cancel_scope.cancel()


@two_backends
async def test_refusal_raises_on_the_server_side(codec: SimpleNamespace) -> None:
    async def refuse(request: Request) -> Any:
        return Reject(403, body="no")

    async def client(raw: RawPeer) -> None:
        response = await raw.request()
        assert response.startswith(b"HTTP/1.1 403 ")
        assert await raw.read_to_eof() == []  # body read with the head, then the end

    ws, error = await server_on_pipe(client, filter=refuse)
    assert ws is None
    assert isinstance(error, HandshakeRejected) and error.status_code == 403


@two_backends
async def test_filter_exception_answers_500_and_propagates(codec: SimpleNamespace) -> None:
    async def broken(request: Request) -> Any:
        raise LookupError("filter bug")

    async def client(raw: RawPeer) -> None:
        assert (await raw.request()).startswith(b"HTTP/1.1 500 ")

    ws, error = await server_on_pipe(client, filter=broken)
    assert isinstance(error, LookupError)


@two_backends
async def test_filter_choosing_an_unoffered_subprotocol(codec: SimpleNamespace) -> None:
    async def unoffered(request: Request) -> Any:
        return "not-offered"

    async def client(raw: RawPeer) -> None:
        assert (await raw.request()).startswith(b"HTTP/1.1 500 ")
        assert await raw.read_to_eof() == []

    # A filter bug, like an exception in the filter: refused, and raised.
    ws, error = await server_on_pipe(client, filter=unoffered)
    assert ws is None and isinstance(error, ValueError)


@pytest.mark.parametrize("status", [101, 200, 204, 600])
def test_reject_needs_a_refusing_status(status: int) -> None:
    with pytest.raises(ValueError):
        Reject(status)


@two_backends
async def test_filter_refusing_with_a_success_status(codec: SimpleNamespace) -> None:
    async def confused(request: Request) -> Any:
        return RejectConnection(status_code=200)

    async def client(raw: RawPeer) -> None:
        assert (await raw.request()).startswith(b"HTTP/1.1 500 ")
        assert await raw.read_to_eof() == []

    # The client is answered and let go; the filter's error is raised.
    ws, error = await server_on_pipe(client, filter=confused)
    assert ws is None and isinstance(error, ValueError)


@pytest.mark.parametrize("options", [{"compression": "brotli"}, {"max_mesage_size": 10}])
async def test_serve_refuses_bad_options_before_listening(options: dict[str, Any]) -> None:
    async def never(ws: Websocket) -> None:
        raise AssertionError("no connection expected")

    with anyio.fail_after(5):
        with pytest.raises((TypeError, ValueError)):
            await serve(never, "127.0.0.1", 0, **options)


# -- subprotocols -------------------------------------------------------------


@pytest.mark.parametrize(
    "supported, offered, chosen",
    [
        (["b", "c"], ["a", "c", "b"], "c"),  # the client's order of preference
        (["b"], ["a"], None),
        ([], ["a"], None),
        (None, ["x", "y"], "x"),
        (["b"], [], None),
        (None, [], None),
    ],
)
async def test_subprotocol_negotiation(
    codec: SimpleNamespace, supported: Any, offered: list[str], chosen: str | None
) -> None:
    got: list[str | None] = []

    async def report(ws: Websocket) -> None:
        got.append(ws.subprotocol)

    async with anyio.create_task_group() as tg:
        server = await start(tg, report, subprotocols=supported)
        with anyio.fail_after(5):
            async with open_websocket(server.url, subprotocols=offered) as ws:
                assert ws.subprotocol == chosen
                assert [m async for m in ws] == []  # the handler returned: closed with 1000
            assert ws.close_code == 1000
        assert got == [chosen]
        tg.cancel_scope.cancel()


async def test_extra_response_headers(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, echo, extra_headers=[("X-Server", "ours"), (b"X-Bytes", b"b")])
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                assert (b"x-server", b"ours") in ws.response_headers
                assert (b"x-bytes", b"b") in ws.response_headers
        tg.cancel_scope.cancel()


# -- bad clients --------------------------------------------------------------

BAD_REQUESTS = {
    "no upgrade": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426),
    "garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "POST": (
        b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
        405,
    ),
    "bad key": (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
        400,
    ),
    "version 7": (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 7\r\n\r\n",
        426,
    ),
}


@pytest.mark.parametrize("bad", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
async def test_bad_client_answered_and_others_unaffected(codec: SimpleNamespace, bad: str) -> None:
    request, status = BAD_REQUESTS[bad]
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as good:
                await good.send("before")
                assert (await good.receive()).data == "before"
                stream = await anyio.connect_tcp("127.0.0.1", server.port)
                await stream.send(request)
                raw = RawPeer(stream, masks=True)
                response = await raw.read_head()
                line, headers = head_of(response)
                assert line.startswith(f"HTTP/1.1 {status} ")
                if status == 426:
                    assert headers["sec-websocket-version"] == "13"
                body = bytes(raw.buffer)
                while len(body) < int(headers["content-length"]):
                    body += await stream.receive()
                assert await raw.read_to_eof() == []  # and the server hung up
                await stream.aclose()
                # The connection being served meanwhile goes on.
                await good.send("after")
                assert (await good.receive()).data == "after"
            assert good.close_code == 1000
        tg.cancel_scope.cancel()


@two_backends
async def test_bad_request_on_a_stream_raises_handshake_error(codec: SimpleNamespace) -> None:
    async def client(raw: RawPeer) -> None:
        await raw.send(BAD_REQUESTS["no upgrade"][0])
        assert (await raw.read_head()).startswith(b"HTTP/1.1 426 ")

    ws, error = await server_on_pipe(client)
    assert isinstance(error, HandshakeError) and not isinstance(error, HandshakeRejected)
    assert isinstance(error, ConnectionError)


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: slow"])
async def test_open_timeout_against_slowloris(sent: bytes) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, open_timeout=0.2)
        with anyio.fail_after(5):
            lazy = await anyio.connect_tcp("127.0.0.1", server.port)
            begin = anyio.current_time()
            if sent:
                await lazy.send(sent)  # and never the rest
            assert await RawPeer(lazy, masks=True).read_to_eof() == []
            assert 0.15 <= anyio.current_time() - begin < 3
            await lazy.aclose()
            # The server itself is fine.
            async with open_websocket(server.url) as ws:
                await ws.send("x")
                assert (await ws.receive()).data == "x"
        tg.cancel_scope.cancel()


@two_backends
async def test_open_timeout_on_a_stream() -> None:
    async def silent(raw: RawPeer) -> None:
        assert await raw.read_to_eof() == []

    ws, error = await server_on_pipe(silent, open_timeout=0.1)
    assert isinstance(error, HandshakeTimeout)
    assert isinstance(error, TimeoutError) and isinstance(error, ConnectionError)


# -- frames right behind the request ----------------------------------------


async def test_pipelined_frames_delivered_and_answered(codec: SimpleNamespace) -> None:
    record = Recorder()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record)
        with anyio.fail_after(5):
            # A client that does not wait for the 101 before its first frames.
            raw, head = await raw_client(server.port, frame(1, b"early") + frame(9, b"still there?"))
            assert head.startswith(b"HTTP/1.1 101 ")
            # Answered at once, though the client sends nothing more.
            assert await raw.read_frame() == (True, 10, b"still there?")
            await raw.send_frame(8, (1000).to_bytes(2, "big"))
            assert await raw.read_close_code() == 1000
            await record.done.wait()
        assert record.messages == ["early"]
        await raw.aclose()
        tg.cancel_scope.cancel()


async def test_pipelined_close_answered(codec: SimpleNamespace) -> None:
    got: list[Any] = []
    done = anyio.Event()

    async def record(ws: Websocket) -> None:
        async for message in ws:
            got.append(message.data)
        got.append(ws.close_code)
        done.set()

    async with anyio.create_task_group() as tg:
        server = await start(tg, record)
        with anyio.fail_after(5):
            raw, _ = await raw_client(server.port, frame(1, b"hi and bye") + frame(8, (1001).to_bytes(2, "big")))
            assert await raw.read_close_code() == 1001
            assert await raw.read_to_eof() == []
            await done.wait()
        assert got == ["hi and bye", 1001]
        await raw.aclose()
        tg.cancel_scope.cancel()


# -- serve: handlers and shutdown -----------------------------------------


async def test_handler_return_closes_with_1000(codec: SimpleNamespace) -> None:
    async def greet(ws: Websocket) -> None:
        await ws.send("hello and goodbye")

    async with anyio.create_task_group() as tg:
        server = await start(tg, greet)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                assert [m.data async for m in ws] == ["hello and goodbye"]
                assert ws.close_code == 1000
        tg.cancel_scope.cancel()


async def test_handler_connection_closed_is_swallowed(codec: SimpleNamespace) -> None:
    raised: list[BaseException] = []
    done = [anyio.Event(), anyio.Event()]

    async def insists(ws: Websocket) -> None:
        try:
            while True:
                await ws.receive()
        except ConnectionClosed as exc:
            done[len(raised)].set()
            raised.append(exc)
            raise

    async with anyio.create_task_group() as tg:
        server = await start(tg, insists)
        with anyio.fail_after(5):
            async with open_websocket(server.url) as ws:
                await ws.send("x")
            await done[0].wait()
            # The server goes on serving.
            async with open_websocket(server.url) as ws:
                await ws.send("y")
            assert ws.close_code == 1000
            await done[1].wait()
        assert [exc.code for exc in raised] == [1000, 1000]  # type: ignore[attr-defined]
        tg.cancel_scope.cancel()


async def test_handler_exception_closes_with_1011_and_the_server_goes_on(
    codec: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ws: Websocket) -> None:
        message = await ws.receive()
        if message.data == "trigger":
            raise KeyError("handler bug")
        await echo(ws)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            server = await start(tg, broken)
            async with open_websocket(server.url) as bystander:
                await bystander.send("hello")
                async with open_websocket(server.url) as ws:
                    await ws.send("trigger")
                    assert [m async for m in ws] == []
                    assert (ws.close_code, ws.close_reason) == (1011, "internal error")
                # The other connection, and new ones, are still served.
                await bystander.send("still there")
                assert (await bystander.receive()).data == "still there"
                async with open_websocket(server.url) as newcomer:
                    await newcomer.send("hello")
                    await newcomer.send("new")
                    assert (await newcomer.receive()).data == "new"
            tg.cancel_scope.cancel()
    errors = [r for r in caplog.records if r.name == "asyncwebsockets.server" and r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is KeyError


async def test_cancelling_serve_closes_connections_with_1001(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server_scope = anyio.CancelScope()

        async def run_server(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            with server_scope:
                await serve(echo, "127.0.0.1", 0, task_status=task_status)

        url = f"ws://127.0.0.1:{(await tg.start(run_server)).port}/"
        codes: list[int | None] = []
        with anyio.fail_after(5):
            async with open_websocket(url) as one, open_websocket(url) as two:
                for ws in (one, two):
                    await ws.send("hi")
                    assert (await ws.receive()).data == "hi"
                server_scope.cancel()
                for ws in (one, two):
                    assert [m async for m in ws] == []
                    codes.append(ws.close_code)
                    assert ws.close_reason == "server shutting down"
        assert codes == [1001, 1001]
        # And nothing listens any more.
        with pytest.raises(HandshakeError):
            await create_websocket(url, open_timeout=2)
        tg.cancel_scope.cancel()


async def test_server_object() -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(echo, "127.0.0.1", 0, task_status=task_status))
        assert isinstance(server, WebSocketServer)
        assert server.port == server.ports[0] > 0
        assert server.sockets[0].getsockname()[1] == server.port
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", ["asyncio+streams", "trio"], indirect=True)
async def test_serve_listener(codec: SimpleNamespace) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve_listener(echo, listener, task_status=task_status, subprotocols=["s"])
        )
        assert server.listener is listener
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/", subprotocols=["s"]) as ws:
                assert ws.subprotocol == "s"
                await ws.send(b"via a listener")
                assert (await ws.receive()).data == b"via a listener"
        tg.cancel_scope.cancel()


# -- a server on a stream it was handed ---------------------------------------


@two_backends
async def test_open_websocket_server_on_a_stream(codec: SimpleNamespace) -> None:
    async def client(raw: RawPeer) -> None:
        assert (await raw.request(b"/x?y=z")).startswith(b"HTTP/1.1 101 ")

    ours, theirs = memory_pipe()
    raw = RawPeer(theirs, masks=True)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client, raw)
            async with open_websocket_server(ours) as ws:
                assert ws.request is not None and ws.request.target == "/x?y=z"
                await raw.send_frame(1, b"to the server")
                assert await ws.receive() == TextMessage("to the server")
                await ws.send("to the client")
                assert await raw.read_frame() == (True, 1, b"to the client")
                # Leaving the block closes with 1000; the client answers.
                tg.start_soon(raw.send_frame, 8, (1000).to_bytes(2, "big"))
        assert await raw.read_close_code() == 1000
        assert await raw.read_to_eof() == []  # the server closed TCP
    assert ws.close_code == 1000


async def test_random_bytes_do_not_hurt(codec: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, open_timeout=0.5)
        with anyio.fail_after(5):
            streams = []
            for _ in range(3):
                stream = await anyio.connect_tcp("127.0.0.1", server.port)
                await stream.send(os.urandom(3000) + b"\r\n\r\n")
                streams.append(stream)
            async with open_websocket(server.url) as ws:
                await ws.send("fine")
                assert (await ws.receive()).data == "fine"
            for stream in streams:
                assert await RawPeer(stream, masks=True).read_to_eof() is not None
                await stream.aclose()
        tg.cancel_scope.cancel()


UNCONFIGURED_LOGGING = """
import functools, sys
import anyio
from asyncwebsockets import ConnectionClosed, open_websocket, serve

async def handler(ws):
    if ws.request.target == "/raise":
        raise RuntimeError("boom")
    async for message in ws:
        await ws.send(message.data)

async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(functools.partial(serve, handler, "127.0.0.1", 0))
        url = f"ws://127.0.0.1:{server.port}"
        async with open_websocket(url + "/raise") as ws:
            async for _ in ws:
                pass
        async with open_websocket(url + "/echo") as ws:
            await ws.send("fine")
            print((await ws.receive()).data)
        # A bad handshake is INFO: not printed.
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        await stream.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        await stream.receive()
        await stream.aclose()
        tg.cancel_scope.cancel()

anyio.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_without_logging_configured_only_errors_are_printed(backend: str) -> None:
    """As the logging guide says: Python's last-resort handler shows a handler's error, and nothing else."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run(
        [sys.executable, "-c", UNCONFIGURED_LOGGING, backend], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fine\n"
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error in the connection handler for ('127.0.0.1', ")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"
    assert result.stderr.count("Traceback") == 1


# -- out of file descriptors ----------------------------------------------------


OUT_OF_FILES = """
import logging, resource, sys, anyio
from asyncwebsockets import serve

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

async def echo(ws):
    async for message in ws:
        await ws.send(message.data)

async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(echo, "127.0.0.1", 0, task_status=task_status))
        print(server.port, flush=True)

backend = sys.argv[1]
anyio.run(main, backend=backend.split("+")[0], backend_options={"use_uvloop": True} if "uvloop" in backend else {})
"""


@pytest.mark.parametrize("backend", ["asyncio", "asyncio+uvloop", "trio"])
def test_a_server_out_of_file_descriptors_serves_again_when_some_are_freed(backend: str, tmp_path: Path) -> None:
    """More connections than the process may have files: the server waits them out, never stops serving."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    # A file, not a pipe: asyncio logs every failed accept, more than a pipe holds.
    log = tmp_path / "stderr"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", OUT_OF_FILES, backend], stdout=subprocess.PIPE, stderr=err, env=env, text=True
        )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        # Twice as many connections as the server may have files: those it
        # cannot accept wait in the backlog, making it try again and again.
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(128)]
        time.sleep(1.0)
        for sock in flood:
            sock.close()

        async def client() -> None:
            with anyio.fail_after(5):
                while True:
                    try:
                        ws = await create_websocket(f"ws://127.0.0.1:{port}/", open_timeout=5)
                        break
                    except HandshakeError:
                        # uvloop, still out of files, closes what it cannot
                        # accept (libuv's way): a client tries again.
                        assert backend == "asyncio+uvloop"
                        await anyio.sleep(0.1)
                async with ws:
                    await ws.send("still serving")
                    assert (await ws.receive()).data == "still serving"

        anyio.run(client)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()
    stderr = log.read_text()
    if backend == "trio":
        # One report when it starts, one when it ends (trio itself says nothing).
        assert "ERROR asyncwebsockets.server: cannot accept connections: [Errno 24] Too many open files" in stderr
        assert "WARNING asyncwebsockets.server: accepting connections again after Too many open files" in stderr
    # asyncio logs each failed accept itself, with its traceback; nothing else may fail.
    assert stderr.count("Traceback") == stderr.count(", in _accept_connection\n")


class _StarvedListener(Listener[Any]):
    """A real listener whose ``serve`` first fails as anyio's do when out of files (or with ``error``)."""

    def __init__(self, inner: Listener[Any], failures: list[BaseException]) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    async def serve(self, handler: Any, task_group: Any = None) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        await self.inner.serve(handler, task_group)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self.inner.extra_attributes


def _emfile() -> OSError:
    return OSError(errno.EMFILE, "Too many open files")


def _broken_by(exc: OSError) -> anyio.BrokenResourceError:
    broken = anyio.BrokenResourceError()
    broken.__cause__ = exc
    return broken


@two_backends
async def test_serve_listener_retries_accepting_when_out_of_resources(caplog: pytest.LogCaptureFixture) -> None:
    # As asyncio raises it, as trio's listener does, and from a MultiListener.
    failures: list[BaseException] = [_emfile(), _broken_by(_emfile()), ExceptionGroup("", [_broken_by(_emfile())])]
    listener = _StarvedListener(await anyio.create_tcp_listener(local_host="127.0.0.1"), failures)
    caplog.set_level(logging.INFO, "asyncwebsockets.server")
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve_listener(echo, listener, task_status=task_status))
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("served")
                assert (await ws.receive()).data == "served"
        tg.cancel_scope.cancel()
    assert listener.calls == 4
    reports = [r.getMessage() for r in caplog.records if "accept" in r.getMessage()]
    assert reports == [
        "cannot accept connections: [Errno 24] Too many open files; retrying every 0.1 s",
        "accepting connections again after Too many open files",
    ]


@two_backends
async def test_serve_listener_stops_on_other_listener_errors() -> None:
    listener = _StarvedListener(
        await anyio.create_tcp_listener(local_host="127.0.0.1"), [_broken_by(OSError(errno.EBADF, "Bad file"))]
    )
    with pytest.raises(BaseException) as info, anyio.fail_after(5):
        await serve_listener(echo, listener)
    error = info.value
    while isinstance(error, BaseExceptionGroup):
        (error,) = error.exceptions
    assert isinstance(error, anyio.BrokenResourceError)
    assert isinstance(error.__cause__, OSError) and error.__cause__.errno == errno.EBADF
