"""Shared fixtures: both codec implementations, both async backends."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from asyncwebsockets import _speedups
from asyncwebsockets.transports import asyncio_open as asyncio_transport
from asyncwebsockets.transports import trio_socket as trio_transport

from .helpers import REQUIRE_COMPILED, Peer


@pytest.fixture(autouse=True)
def no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 directly, whatever proxy the machine is set up with.

    Clients take their proxy from these variables by default (as do the
    other libraries the tests run as peers); tests of that set them.
    """
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(params=["compiled", "python"])
def codec(request: pytest.FixtureRequest) -> Iterator[SimpleNamespace]:
    """The codec modules of one implementation, made active for the test.

    Where the compiled modules were not built the compiled half is skipped,
    unless ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS is set (as in CI): then it fails.
    """
    if request.param == "compiled":
        if _speedups.COMPILED is None:
            if REQUIRE_COMPILED:
                pytest.fail("compiled codec required but not importable")
            pytest.skip("compiled codec not built")
        modules = _speedups.COMPILED
    else:
        modules = _speedups.PURE
    _speedups.use(modules)
    try:
        yield SimpleNamespace(name=request.param, **modules)
    finally:
        _speedups.use(_speedups.COMPILED or _speedups.PURE)


@pytest.fixture(params=["asyncio", "asyncio+streams", "trio", "trio+streams"])
def anyio_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every I/O test runs on asyncio and on trio.

    Each twice: with the fast transport for plain sockets (asyncio's
    protocol callbacks; direct socket calls on trio), and with anyio's
    generic streams, which any other stream handed to us gets.
    """
    asyncio_transport.USE_ON_ASYNCIO = request.param == "asyncio"
    trio_transport.USE_ON_TRIO = request.param == "trio"
    try:
        yield "trio" if request.param.startswith("trio") else "asyncio"
    finally:
        asyncio_transport.USE_ON_ASYNCIO = True
        trio_transport.USE_ON_TRIO = True


@pytest.fixture
def peer() -> Iterator[Peer]:
    """The websockets library on an event loop of its own (see helpers.Peer)."""
    the_peer = Peer()
    try:
        yield the_peer
    finally:
        the_peer.stop()
