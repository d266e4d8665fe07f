"""Following redirects of the opening handshake, between our own servers, on asyncio and trio.

Servers redirect with a ``filter`` returning ``Reject(3xx, Location)`` or a
``process_request`` hook returning ``Response.redirect``; each records the
requests it saw, so the tests check where the client went and with which
headers.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from wsproto.events import Request

from asyncwebsockets import (
    HandshakeRejected,
    InvalidURI,
    RedirectError,
    Reject,
    Response,
    Websocket,
    create_websocket,
    open_websocket,
    serve,
)
from asyncwebsockets.redirects import resolve
from asyncwebsockets.uri import parse_uri

from .helpers import two_backends

trustme = pytest.importorskip("trustme", reason="trustme is a test dependency: pip install '.[test]'")

pytestmark = pytest.mark.anyio


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


class Server(SimpleNamespace):
    port: int
    seen: list[Request]

    def headers(self, index: int = -1) -> dict[bytes, bytes]:
        return {bytes(name).lower(): bytes(value) for name, value in self.seen[index].extra_headers}


async def start(tg: Any, redirect: Callable[[Request], Reject | None] | None = None, **options: Any) -> Server:
    """Our server on 127.0.0.1: ``redirect(request)`` may answer with a Reject; else it echoes."""
    server = Server(seen=[])

    async def decide(request: Request) -> Any:
        server.seen.append(request)
        answer = redirect(request) if redirect is not None else None
        return answer if answer is not None else True

    listening = await tg.start(partial(serve, echo, "127.0.0.1", 0, filter=decide, **options))
    server.port = listening.port
    return server


def to(location: str, status: int = 307) -> Callable[[Request], Reject]:
    return lambda request: Reject(status, [("Location", location)])


async def echoes(url: str, **options: Any) -> None:
    with anyio.fail_after(10):
        async with open_websocket(url, **options) as ws:
            await ws.send("hello")
            assert (await ws.receive()).data == "hello"


async def refused(url: str, **options: Any) -> RedirectError:
    with pytest.raises(RedirectError) as info:
        with anyio.fail_after(10):
            await create_websocket(url, **options)
    return info.value


@two_backends
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_server(status: int) -> None:
    async with anyio.create_task_group() as tg:
        target = await start(tg)
        first = await start(tg, to(f"ws://127.0.0.1:{target.port}/room/7?lang=fr", status))
        await echoes(f"ws://127.0.0.1:{first.port}/room", headers=[("X-Custom", "1")])
        assert [r.target for r in first.seen] == ["/room"]
        assert [r.target for r in target.seen] == ["/room/7?lang=fr"]
        assert target.seen[0].host == f"127.0.0.1:{target.port}"
        assert target.headers()[b"x-custom"] == b"1"
        tg.cancel_scope.cancel()


@two_backends
async def test_location_forms() -> None:
    """http(s):// URLs map to ws(s)://; relative ones resolve against the request."""

    def moves(request: Request) -> Reject | None:
        path, _, query = request.target.partition("?")
        routes = {
            "/a": f"http://127.0.0.1:{server.port}/b",
            "/b": "c?x=1",
            "/c": "/d#fragment",
            "/d": f"//127.0.0.1:{server.port}/e",
        }
        if path in routes:
            return Reject(302, [("Location", routes[path])])
        return None

    async with anyio.create_task_group() as tg:
        server = await start(tg, moves)
        await echoes(f"ws://127.0.0.1:{server.port}/a")
        assert [r.target for r in server.seen] == ["/a", "/b", "/c?x=1", "/d", "/e"]
        tg.cancel_scope.cancel()


@two_backends
async def test_redirect_from_process_request() -> None:
    def hook(request: Any) -> Response | None:
        return Response.redirect("/new", 308) if request.path == "/old" else None

    async with anyio.create_task_group() as tg:
        server = await start(tg, process_request=hook)
        await echoes(f"ws://127.0.0.1:{server.port}/old")
        assert [r.target for r in server.seen] == ["/new"]  # the hook answered /old itself
        tg.cancel_scope.cancel()


@two_backends
async def test_redirect_loop() -> None:
    async with anyio.create_task_group() as tg:
        ports: dict[str, int] = {}
        a = await start(tg, lambda request: Reject(307, [("Location", f"ws://127.0.0.1:{ports['b']}/")]))
        b = await start(tg, to(f"ws://127.0.0.1:{a.port}/"))
        ports["b"] = b.port
        error = await refused(f"ws://127.0.0.1:{a.port}/")
        assert "redirect loop" in str(error)
        assert error.status_code == 307
        assert (len(a.seen), len(b.seen)) == (1, 1)
        assert isinstance(error, HandshakeRejected) and isinstance(error, ConnectionError)
        tg.cancel_scope.cancel()


@two_backends
async def test_too_many_redirects() -> None:
    def onwards(request: Request) -> Reject:
        return Reject(302, [("Location", f"/{int(request.target[1:]) + 1}")])

    async with anyio.create_task_group() as tg:
        server = await start(tg, onwards)
        error = await refused(f"ws://127.0.0.1:{server.port}/0")
        assert "too many redirects (more than 10)" in str(error)
        assert len(server.seen) == 11
        error = await refused(f"ws://127.0.0.1:{server.port}/0", max_redirects=2)
        assert "more than 2" in str(error)
        assert len(server.seen) == 11 + 3
        # 0 follows none: the redirect is reported with its response.
        error = await refused(f"ws://127.0.0.1:{server.port}/0", max_redirects=0)
        assert error.status_code == 302
        assert (b"location", b"/1") in error.headers
        tg.cancel_scope.cancel()


@two_backends
@pytest.mark.parametrize(
    "location, message",
    [
        ("ftp://127.0.0.1/file", "not an http(s):// or ws(s):// URL"),
        ("mailto:someone@example.test", "not an http(s):// or ws(s):// URL"),
        (None, "without a Location header"),
        ("", "without a Location header"),
        ("ws://127.0.0.1:99999/", "invalid URL"),
    ],
)
async def test_invalid_location(location: str | None, message: str) -> None:
    headers = [] if location is None else [("Location", location)]
    async with anyio.create_task_group() as tg:
        server = await start(tg, lambda request: Reject(301, headers))
        error = await refused(f"ws://127.0.0.1:{server.port}/")
        assert message in str(error)
        assert error.status_code == 301
        assert len(server.seen) == 1
        tg.cancel_scope.cancel()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    ca_file = tmp_path_factory.mktemp("redirect-tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return SimpleNamespace(server=server, client=client, ca_file=ca_file)


@two_backends
async def test_no_downgrade_from_wss(pki: SimpleNamespace) -> None:
    async with anyio.create_task_group() as tg:
        plain = await start(tg)
        secure = await start(tg, to(f"ws://127.0.0.1:{plain.port}/"), ssl=pki.server)
        error = await refused(f"wss://127.0.0.1:{secure.port}/", ssl=pki.client)
        assert "wss://" in str(error) and "not encrypted" in str(error)
        assert plain.seen == []
        # http:// is plain text too.
        secure_http = await start(tg, to(f"http://127.0.0.1:{plain.port}/"), ssl=pki.server)
        await refused(f"wss://127.0.0.1:{secure_http.port}/", ssl=pki.client)
        assert plain.seen == []
        tg.cancel_scope.cancel()


@two_backends
async def test_upgrade_to_wss(pki: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """ws:// to wss:// (https://) is followed, verified with the default context."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    async with anyio.create_task_group() as tg:
        secure = await start(tg, ssl=pki.server)
        plain = await start(tg, to(f"https://localhost:{secure.port}/secure", 301))
        await echoes(f"ws://127.0.0.1:{plain.port}/")
        assert [r.target for r in secure.seen] == ["/secure"]
        tg.cancel_scope.cancel()


@two_backends
async def test_credentials_stay_with_their_host() -> None:
    async with anyio.create_task_group() as tg:
        other = await start(tg)
        ports: dict[str, int] = {}

        def moves(request: Request) -> Reject | None:
            if request.target == "/first":
                return Reject(307, [("Location", "/second")])  # same host: keep
            if request.target == "/second":
                # localhost is another host than 127.0.0.1 (the same machine, but not the same name)
                return Reject(307, [("Location", f"ws://localhost:{ports['other']}/third")])
            return None

        ports["other"] = other.port
        server = await start(tg, moves)
        headers = [("Cookie", "session=1"), ("X-Keep", "yes")]
        await echoes(f"ws://ann:s3cret@127.0.0.1:{server.port}/first", headers=headers)
        assert [r.target for r in server.seen] == ["/first", "/second"]
        for index in (0, 1):
            assert server.headers(index)[b"authorization"] == b"Basic YW5uOnMzY3JldA=="
            assert server.headers(index)[b"cookie"] == b"session=1"
        (third,) = other.seen
        assert third.target == "/third"
        forwarded = other.headers()
        assert b"authorization" not in forwarded and b"cookie" not in forwarded
        assert forwarded[b"x-keep"] == b"yes"
        # An explicit Authorization header is dropped too; the new URL's own credentials are used.
        other.seen.clear()
        await echoes(f"ws://127.0.0.1:{server.port}/second", headers=[("Authorization", "Bearer token")])
        assert b"authorization" not in other.headers()
        tg.cancel_scope.cancel()


def test_resolve() -> None:
    current = parse_uri("wss://example.test:8443/a/b?q=1")
    assert resolve(current, "c") == "wss://example.test:8443/a/c"
    assert resolve(current, "/c?x") == "wss://example.test:8443/c?x"
    assert resolve(current, "http://other.test/") == "ws://other.test/"
    assert resolve(current, "HTTPS://other.test/#frag") == "wss://other.test/"
    assert resolve(current, "ws://other.test:1/") == "ws://other.test:1/"
    assert resolve(current, "javascript:alert(1)") is None


def test_max_redirects_checked_before_io() -> None:
    async def attempt(limit: Any) -> None:
        await create_websocket("ws://127.0.0.1:1/", max_redirects=limit)

    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError):
            anyio.run(attempt, bad)
    with pytest.raises(InvalidURI):
        anyio.run(create_websocket, "http://127.0.0.1:1/")
