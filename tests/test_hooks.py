"""Servers answering HTTP themselves: health checks, redirects, authentication;
Server and User-Agent headers; where servers listen.

Each I/O test runs on asyncio and trio. Plain HTTP requests are made with
the standard library's HTTP client (``urllib``), in a worker thread.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import sys
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from asyncwebsockets import (
    HandshakeRejected,
    HTTPRequest,
    Response,
    basic_auth,
    check_origin,
    create_websocket,
    open_websocket,
    open_websocket_client,
    serve,
)
from asyncwebsockets.accept import SERVER_HEADER
from asyncwebsockets.client import USER_AGENT

from .helpers import echo, two_backends

pytestmark = pytest.mark.anyio


async def start(tg: Any, handler: Any = echo, **options: Any) -> Any:
    return await tg.start(lambda task_status: serve(handler, "127.0.0.1", 0, task_status=task_status, **options))


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP GET, as a load balancer or curl would make it; redirects not followed."""

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirects, urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def health(request: HTTPRequest) -> Response | None:
    if request.path == "/healthz":
        return Response(200, {"Content-Type": "text/plain"}, "OK\n")
    if request.path == "/old":
        return Response.redirect("/new", 301)
    return None


@two_backends
async def test_health_check_answers_plain_http(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncwebsockets")
    async with anyio.create_task_group() as tg:
        server = await start(tg, process_request=health)
        base = f"http://127.0.0.1:{server.port}"
        status, headers, body = await anyio.to_thread.run_sync(http_get, base + "/healthz")
        assert (status, body) == (200, b"OK\n")
        assert headers["Server"] == SERVER_HEADER
        status, headers, _ = await anyio.to_thread.run_sync(http_get, base + "/old")
        assert (status, headers["Location"]) == (301, "/new")
        # Anything else still gets the handshake's answer to plain HTTP...
        status, _, _ = await anyio.to_thread.run_sync(http_get, base + "/other")
        assert status == 426
        # ... and WebSocket clients get their WebSocket.
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/chat") as ws:
                await ws.send("through")
                assert (await ws.receive()).data == "through"
            with pytest.raises(HandshakeRejected) as info:
                await create_websocket(f"ws://127.0.0.1:{server.port}/healthz")
            assert info.value.status_code == 200 and info.value.body == b"OK\n"
        tg.cancel_scope.cancel()
    # Answered requests are the server's own doing: only the plain HTTP
    # request that got 426 is logged at INFO.
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(logged) == 1 and "426" in logged[0], logged


@two_backends
async def test_a_hook_that_raises_gets_500_and_the_server_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: HTTPRequest) -> Response | None:
        if request.path == "/broken":
            raise RuntimeError("hook bug")
        return None

    async with anyio.create_task_group() as tg:
        server = await start(tg, process_request=broken)
        status, _, _ = await anyio.to_thread.run_sync(http_get, f"http://127.0.0.1:{server.port}/broken")
        assert status == 500
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/fine") as ws:
                await ws.send("still serving")
                assert (await ws.receive()).data == "still serving"
        tg.cancel_scope.cancel()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "asyncwebsockets.server"]
    assert len(errors) == 1 and errors[0].exc_info is not None


@two_backends
async def test_basic_auth() -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, process_request=basic_auth("chat", {"ann": "s3cret"}))
        url = f"127.0.0.1:{server.port}/"
        with anyio.fail_after(5):
            for credentials in ("", "ann:wrong@", "bob:s3cret@"):
                with pytest.raises(HandshakeRejected) as info:
                    await create_websocket(f"ws://{credentials}{url}")
                assert info.value.status_code == 401
                assert (b"www-authenticate", b'Basic realm="chat", charset="UTF-8"') in info.value.headers
            async with open_websocket(f"ws://ann:s3cret@{url}") as ws:
                await ws.send("in")
                assert (await ws.receive()).data == "in"
        tg.cancel_scope.cancel()


async def test_basic_auth_with_a_check_function() -> None:
    seen: list[tuple[str, str]] = []

    async def check(user: str, password: str) -> bool:
        seen.append((user, password))
        return password == user[::-1]

    hook = basic_auth("r", check=check)

    def request(user_password: str | None) -> HTTPRequest:
        headers = []
        if user_password is not None:
            headers.append((b"authorization", b"Basic " + base64.b64encode(user_password.encode())))
        return HTTPRequest("GET", "/", headers)

    assert await hook(request("abc:cba")) is None  # type: ignore[misc]
    assert (await hook(request("abc:abc"))).status_code == 401  # type: ignore[misc,union-attr]
    assert (await hook(request(None))).status_code == 401  # type: ignore[misc,union-attr]
    assert (await hook(request("no colon"))).status_code == 401  # type: ignore[misc,union-attr]
    assert seen == [("abc", "cba"), ("abc", "abc")]
    with pytest.raises(TypeError):
        basic_auth("r")
    with pytest.raises(ValueError):
        basic_auth('say "hi"', {"a": "b"})


@two_backends
async def test_origin_allow_list() -> None:
    async with anyio.create_task_group() as tg:
        server = await start(tg, process_request=[check_origin(["https://good.example", None]), health])
        url = f"ws://127.0.0.1:{server.port}/"
        with anyio.fail_after(5):
            for origin in ("https://good.example", None):
                async with open_websocket(url, origin=origin) as ws:
                    await ws.send("ok")
                    assert (await ws.receive()).data == "ok"
            with pytest.raises(HandshakeRejected) as info:
                await create_websocket(url, origin="https://evil.example")
            assert info.value.status_code == 403
        # Plain HTTP is not the allow-list's business: the next hook answers.
        status, _, _ = await anyio.to_thread.run_sync(http_get, f"http://127.0.0.1:{server.port}/healthz")
        assert status == 200
        tg.cancel_scope.cancel()


@two_backends
async def test_process_response_adjusts_or_replaces_the_101() -> None:
    def adjust(request: HTTPRequest, response: Response) -> Response | None:
        if request.path == "/refuse":
            return Response(409, body="busy\n")
        response.add_header("X-Session", "42")
        response.add_header(b"X-Session", b"43")
        return None

    async with anyio.create_task_group() as tg:
        server = await start(tg, process_response=adjust)
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
                session = [value for name, value in ws.response_headers if name == b"x-session"]
                assert session == [b"42", b"43"]
            with pytest.raises(HandshakeRejected) as info:
                await create_websocket(f"ws://127.0.0.1:{server.port}/refuse")
            assert (info.value.status_code, info.value.body) == (409, b"busy\n")
        tg.cancel_scope.cancel()


@two_backends
async def test_server_and_user_agent_headers_default_override_and_removal() -> None:
    requests: list[dict[bytes, bytes]] = []

    async def record(request: Any) -> bool:
        requests.append(dict(request.extra_headers))
        return True

    async with anyio.create_task_group() as tg:
        default = await start(tg, filter=record)
        custom = await start(tg, filter=record, server_header="demo/2")
        none = await start(tg, filter=record, server_header=None)
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{default.port}/") as ws:
                assert (b"server", SERVER_HEADER.encode()) in ws.response_headers
            async with open_websocket(f"ws://127.0.0.1:{custom.port}/", user_agent_header="bot/1") as ws:
                assert (b"server", b"demo/2") in ws.response_headers
            async with open_websocket(f"ws://127.0.0.1:{none.port}/", user_agent_header=None) as ws:
                assert not [value for name, value in ws.response_headers if name == b"server"]
        tg.cancel_scope.cancel()
    assert requests[0][b"user-agent"] == USER_AGENT.encode()
    assert requests[1][b"user-agent"] == b"bot/1"
    assert b"user-agent" not in requests[2]


def test_hook_results_are_checked() -> None:
    with pytest.raises(ValueError):
        Response(42)
    with pytest.raises(TypeError):
        Response(200, body=12)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Response.redirect("/x", 200)
    for status in (101, 204, 304):
        with pytest.raises(ValueError, match="no body"):
            Response(status, body="text")


def test_add_header_keeps_the_headers_given_in_any_form() -> None:
    response = Response(200, {"Content-Type": "text/plain"})
    response.add_header("Set-Cookie", "a=1")
    response.add_header(b"Set-Cookie", b"b=2")
    assert response.headers == [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")]
    assert b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n" in response.to_bytes()
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.add_header("X-Evil", "1\r\nSet-Cookie: admin=1")
    with pytest.raises(TypeError, match="str or bytes, not int"):
        response.add_header("X-Count", 3)  # type: ignore[arg-type]
    assert len(response.headers) == 3


def raw_http(port: int, request: bytes) -> tuple[bytes, bytes]:
    """The head and the body of the answer to ``request``, bytes as they came (in a worker thread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, body


@two_backends
async def test_head_requests_and_bodiless_statuses_get_no_body() -> None:
    def hook(request: HTTPRequest) -> Response | None:
        if request.path == "/healthz":
            return Response(200, body="OK\n")
        if request.path == "/empty":
            return Response(204)
        if request.path == "/broken":
            raise RuntimeError("the hook failed")
        return None

    async def ask(port: int, method: str, path: str) -> tuple[bytes, bytes]:
        request = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
        return await anyio.to_thread.run_sync(raw_http, port, request)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            port = (await start(tg, process_request=hook)).port
            head, body = await ask(port, "GET", "/healthz")
            assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 3" in head and body == b"OK\n"
            # RFC 9110 section 9.3.2: the same head, no body.
            assert await ask(port, "HEAD", "/healthz") == (head, b"")
            # A HEAD the hooks leave alone is no handshake: 405, still without the body.
            head, body = await ask(port, "HEAD", "/")
            assert head.startswith(b"HTTP/1.1 405 ") and b"Content-Length: " in head and body == b""
            head, body = await ask(port, "HEAD", "/broken")
            assert head.startswith(b"HTTP/1.1 500 ") and body == b""
            # A 204 has neither a body nor a length (RFC 9110 section 8.6).
            head, body = await ask(port, "GET", "/empty")
            assert head.startswith(b"HTTP/1.1 204 ") and b"Content-Length" not in head and body == b""
            tg.cancel_scope.cancel()


# -- where a server listens ------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
async def test_unix_socket_server(codec: SimpleNamespace, tmp_path: Any) -> None:
    path = str(tmp_path / "ws.sock")
    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: serve(echo, path=path, task_status=task_status))
        with anyio.fail_after(5):
            stream = await anyio.connect_unix(path)
            async with open_websocket_client(stream, "localhost", "/") as ws:
                await ws.send("over a Unix socket")
                assert (await ws.receive()).data == "over a Unix socket"
            async with open_websocket("ws://chat.example/room", unix_socket_path=path) as ws:
                await ws.send("by URL")
                assert (await ws.receive()).data == "by URL"
        tg.cancel_scope.cancel()


@two_backends
async def test_serving_an_existing_socket_and_reuse_port() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        server = await tg.start(lambda task_status: serve(echo, sock=sock, task_status=task_status))
        assert server.port == port
        with anyio.fail_after(5):
            async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("handed over")
                assert (await ws.receive()).data == "handed over"
        if hasattr(socket, "SO_REUSEPORT") and os.name == "posix":
            first = await start(tg, reuse_port=True)
            second = await tg.start(
                lambda task_status: serve(echo, "127.0.0.1", first.port, reuse_port=True, task_status=task_status)
            )
            assert second.port == first.port
            with anyio.fail_after(5):
                async with open_websocket(f"ws://127.0.0.1:{first.port}/") as ws:
                    await ws.send("shared port")
                    assert (await ws.receive()).data == "shared port"
        with pytest.raises(TypeError):
            await serve(echo, "127.0.0.1", sock=sock)
        tg.cancel_scope.cancel()
