"""``connect()``: reconnecting with backoff, and stopping on failures that would repeat.

Against our own server on 127.0.0.1, stopped and started again on the
same port, on asyncio and trio; the waits are made short so that each
test takes a second or two.
"""

from __future__ import annotations

import logging
import ssl
from contextlib import aclosing
from functools import partial
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from wsproto.events import Request

from asyncwebsockets import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRejected,
    InvalidURI,
    Reject,
    Websocket,
    connect,
    serve,
)
from asyncwebsockets.exceptions import HandshakeTimeout, ProxyError, RedirectError
from asyncwebsockets.reconnect import backoff, retryable

from .helpers import two_backends

trustme = pytest.importorskip("trustme", reason="trustme is a test dependency: pip install '.[test]'")

pytestmark = pytest.mark.anyio


#: Short waits, for the tests.
FAST = dict(backoff_initial=0.05, backoff_factor=2.0, backoff_max=0.2)


class Server(SimpleNamespace):
    """Our server, which can be stopped and started again on its port."""

    port: int
    scope: anyio.CancelScope
    requests: int
    closes: list[int | None]
    #: When each request came, on the event loop's clock.
    times: list[float]


async def start(
    tg: Any, port: int = 0, refuse: list[int | Reject] | None = None, server: Server | None = None, **options: Any
) -> Server:
    """Serve on ``port``: greet each client with its number.

    The first requests are refused with the statuses (or answers) in ``refuse``.
    """
    if server is None:
        server = Server(requests=0, closes=[], times=[])
    statuses = list(refuse or [])

    async def decide(request: Request) -> Any:
        server.requests += 1
        server.times.append(anyio.current_time())
        if statuses:
            answer = statuses.pop(0)
            return answer if isinstance(answer, Reject) else Reject(answer)
        return True

    async def greet(ws: Websocket) -> None:
        await ws.send(f"hello {server.requests}")
        try:
            async for _ in ws:
                pass
        finally:
            server.closes.append(ws.close_code)

    scope = anyio.CancelScope()

    async def run(*, task_status: Any) -> None:
        with scope:
            await serve(greet, "127.0.0.1", port, filter=decide, task_status=task_status, **options)

    listening = await tg.start(run)
    server.port, server.scope = listening.port, scope
    return server


@two_backends
async def test_reconnects_across_a_server_restart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asyncwebsockets.client")
    greetings: list[str] = []
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        url = f"ws://127.0.0.1:{server.port}/"

        async def restart() -> None:
            await anyio.sleep(0.4)  # connections are refused meanwhile
            await start(tg, server.port, server=server)

        with anyio.fail_after(10):
            async for ws in connect(url, **FAST):
                try:
                    greetings.append((await ws.receive()).data)
                    if len(greetings) == 2:
                        break
                    # The server goes away, and comes back a little later.
                    server.scope.cancel()
                    tg.start_soon(restart)
                    await ws.receive()
                except ConnectionClosed:
                    continue
        tg.cancel_scope.cancel()
    assert greetings == ["hello 1", "hello 2"]
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "asyncwebsockets.client"]
    assert any(
        level == logging.WARNING and "cannot connect to" in text and "trying again in" in text
        for level, text in messages
    )


@two_backends
async def test_each_connection_is_closed_when_the_loop_moves_on() -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg)
        seen: list[Websocket] = []
        with anyio.fail_after(10):
            async with aclosing(connect(f"ws://127.0.0.1:{server.port}/", **FAST).__aiter__()) as connections:
                async for ws in connections:
                    assert (await ws.receive()).data == f"hello {len(seen) + 1}"
                    assert all(old.closed for old in seen)
                    seen.append(ws)
                    if len(seen) == 3:
                        break
            # Leaving the loop closed the last one too.
            assert all(ws.close_code == 1000 for ws in seen)
            while len(server.closes) < 3:
                await anyio.sleep(0.01)
        assert server.closes == [1000, 1000, 1000]
        tg.cancel_scope.cancel()


@two_backends
async def test_retries_5xx_then_connects(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asyncwebsockets.client")
    async with anyio.create_task_group() as tg:
        server = await start(tg, refuse=[503, 500, 429])
        with anyio.fail_after(10):
            async for ws in connect(f"ws://127.0.0.1:{server.port}/", **FAST):
                assert (await ws.receive()).data == "hello 4"
                break
        assert server.requests == 4
        tg.cancel_scope.cancel()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and "HTTP 503" in warnings[0]


@two_backends
@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_stops_on_4xx(status: int) -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, refuse=[status])
        with pytest.raises(HandshakeRejected) as info:
            with anyio.fail_after(5):
                async for _ in connect(f"ws://127.0.0.1:{server.port}/", backoff_initial=10):
                    pytest.fail("connected")
        assert info.value.status_code == status
        assert server.requests == 1
        tg.cancel_scope.cancel()


@two_backends
async def test_stops_on_invalid_uri_and_tls_verification() -> None:
    with pytest.raises(InvalidURI):
        async for _ in connect("http://127.0.0.1/", backoff_initial=10):
            pytest.fail("connected")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with anyio.create_task_group() as tg:
        server = await start(tg, ssl=context)
        with pytest.raises(HandshakeError) as info:
            with anyio.fail_after(5):
                async for _ in connect(f"wss://127.0.0.1:{server.port}/", backoff_initial=10):
                    pytest.fail("connected")
        assert not retryable(info.value)
        tg.cancel_scope.cancel()


@two_backends
async def test_handshake_timeouts_are_retried() -> None:
    attempts: list[int] = []

    async def silent(stream: SocketStream) -> None:
        attempts.append(1)
        async with stream:
            await anyio.sleep(10)

    async with anyio.create_task_group() as tg:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        tg.start_soon(listener.serve, silent)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        with anyio.move_on_after(1.5):
            async for _ in connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2, **FAST):
                pytest.fail("connected")
        assert len(attempts) >= 3
        tg.cancel_scope.cancel()


@two_backends
async def test_a_server_that_hangs_up_at_once_is_not_hammered() -> None:
    async def hang_up(ws: Websocket) -> None:
        await ws.close(1001)

    async with anyio.create_task_group() as tg:
        listening = await tg.start(partial(serve, hang_up, "127.0.0.1", 0))
        connections = 0
        with anyio.move_on_after(1.0):
            async for ws in connect(
                f"ws://127.0.0.1:{listening.port}/", backoff_initial=0.1, backoff_factor=2, backoff_max=0.4
            ):
                connections += 1
                try:
                    await ws.receive()
                except ConnectionClosed:
                    continue
        # Waits of 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.2-0.4 s: a handful of connections, not hundreds.
        assert 2 <= connections <= 8
        tg.cancel_scope.cancel()


@two_backends
async def test_process_exception_decides() -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, refuse=[403, 403])
        decided: list[BaseException] = []

        def retry_403(exc: Exception) -> Exception | None:
            decided.append(exc)
            return None if isinstance(exc, HandshakeRejected) and exc.status_code == 403 else exc

        with anyio.fail_after(10):
            async for ws in connect(f"ws://127.0.0.1:{server.port}/", process_exception=retry_403, **FAST):
                assert (await ws.receive()).data == "hello 3"
                break
        assert len(decided) == 2

        class GiveUp(Exception):
            pass

        def give_up(exc: Exception) -> Exception:
            return GiveUp("no")

        server.scope.cancel()
        await anyio.sleep(0.05)
        with pytest.raises(GiveUp):
            async for _ in connect(f"ws://127.0.0.1:{server.port}/", process_exception=give_up, **FAST):
                pytest.fail("connected")
        tg.cancel_scope.cancel()


@two_backends
async def test_single_connection_forms() -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, refuse=[503])
        url = f"ws://127.0.0.1:{server.port}/"
        with anyio.fail_after(10):
            # One attempt only: the 503 is raised, not retried.
            with pytest.raises(HandshakeRejected):
                async with connect(url) as ws:
                    pytest.fail("connected")
            async with connect(url) as ws:
                assert (await ws.receive()).data == "hello 2"
            assert ws.close_code == 1000
            ws = await connect(url)
            assert (await ws.receive()).data == "hello 3"
            await ws.close()
        tg.cancel_scope.cancel()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    delays = backoff(1.0, 2.0, 10.0)
    steps = [1, 2, 4, 8, 10, 10, 10]
    for step in steps:
        delay = next(delays)
        assert step / 2 <= delay <= step
    many = [next(backoff(1.0, 2.0, 10.0)) for _ in range(50)]
    assert len(set(many)) > 1  # jitter


def test_bad_backoff_arguments() -> None:
    for bad in [dict(backoff_initial=0), dict(backoff_max=-1), dict(backoff_factor=0.5), dict(backoff_initial="1")]:
        with pytest.raises(ValueError):
            connect("ws://127.0.0.1/", **bad)  # type: ignore[arg-type]


def test_what_is_retried() -> None:
    def rejected(status: int) -> HandshakeRejected:
        return HandshakeRejected(status)

    assert all(retryable(rejected(s)) for s in (500, 502, 503, 504, 429, 408))
    assert not any(retryable(rejected(s)) for s in (400, 401, 403, 404, 426))
    assert not retryable(RedirectError("loop", 307))
    assert retryable(HandshakeTimeout("slow"))
    assert retryable(HandshakeError("cannot connect"))
    assert retryable(ConnectionRefusedError())
    assert retryable(ProxyError("proxy closed the connection"))
    assert retryable(ProxyError("bad gateway", 502))
    assert not retryable(ProxyError("log in", 407))
    assert not retryable(InvalidURI("bad"))
    assert not retryable(ImportError("python-socks"))
    verification = HandshakeError("cannot connect")
    verification.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert not retryable(verification)
