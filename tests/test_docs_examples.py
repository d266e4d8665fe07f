"""Every code example in the documentation runs, and prints what the text says.

The examples live in ``docs/examples/*.py`` and the documentation shows them
with ``literalinclude``, so what is tested is exactly what readers see.  (The
documentation also shows programs from ``examples/``, which
``tests/test_examples.py`` runs.)  Each one defines ``async def main(...)``
and is run in its own process, on asyncio and on trio, against 127.0.0.1
only:

* ``main()`` is a complete program (it starts its own server);
* ``main(url)`` is a client: it gets the URL of a local echo server, over
  TLS for ``"wss"`` cases, with the test's certificate authority installed
  as the system one (``SSL_CERT_FILE``) so that default verification is
  what is exercised;
* ``main(port)`` is a server: a client checks that it echoes, then it is
  stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
BOTH = ("asyncio", "trio")


@dataclass(frozen=True)
class Case:
    expected: list[str]
    backends: tuple[str, ...] = BOTH
    #: For ``main(url)`` clients: "ws" or "wss".
    scheme: str | None = None
    #: Extra requirements, skipped where missing.
    needs: tuple[str, ...] = field(default_factory=tuple)
    #: A real Redis server, started for the example (skipped without redis-server).
    redis: bool = False


CASES: dict[str, Case] = {
    "first_client.py": Case(["The server said: Hello, server!", "Connection closed with code 1000"], scheme="wss"),
    "first_server.py": Case(["harness: echoed 'hello'", "Client left with code 1000"]),
    "subprotocols.py": Case(["agreed on: chat.v1", "you speak chat.v1", "agreed on: None"]),
    "headers.py": Case(
        [
            "server header: demo/1.0",
            "token abc123, authorization Basic dXNlcjpzZWNyZXQ=",
            "without an origin: 403",
        ]
    ),
    "filters.py": Case(
        [
            "/open: hello on /open, subprotocol None",
            "/chat: hello on /chat, subprotocol chat.v1",
            "/custom: hello on /custom, subprotocol None",
            "/private: refused, HTTP 403 b''",
            "/login: refused, HTTP 401 b''",
            "/elsewhere: refused, HTTP 404 b'no such endpoint'",
        ]
    ),
    "tls.py": Case(["default context: SSLCertVerificationError", "own context: hello over TLS"], needs=("trustme",)),
    "compression.py": Case(
        [
            "windows: 15 15",
            "echoed 23000 characters",
            "windows: 10 10",
            "server keeps no context: True",
            "without the option: None",
        ]
    ),
    "fragments.py": Case(
        [
            "server: frame of 1000 bytes, message_finished=False",
            "server: frame of 10 bytes, message_finished=True",
            "client: 3 frames",
            "client: 1 frames",
        ]
    ),
    "streaming_receive.py": Case(["client: 4194304 bytes in 64 pieces, sha256 4f1f8b605b8f", "client: that was all"]),
    "broadcast.py": Case(
        [
            "welcome, ann",
            "welcome, bob",
            "ann heard ann: hi all",
            "ann heard bob: hello",
            "bob heard ann: hi all",
            "bob heard bob: hello",
        ]
    ),
    "push.py": Case(
        ["tick 0", "the server answered a ping in", "tick 1", "server: the client left with 1000 'bye' after"]
    ),
    "ping.py": Case(["round trip: ", "round trip while reading: ", "received: still here"]),
    "keepalive.py": Case(["echoed: hello", "s: 1011 keepalive ping timeout"]),
    "timeouts.py": Case(
        [
            "open: opening handshake timed out",
            "received: one message, then silence",
            "receive timed out: True",
            "close gave up after",
        ]
    ),
    "closing.py": Case(
        [
            "send after close: 1000",
            "closed by server: 4001 asked to leave",
            "aborted: 1006",
            "receive after abort: ConnectionClosedError 1006",
            "server saw /client-closes end with 1000 'done for today'",
            "server saw /server-closes end with 4001",
            "server saw /abort end with 1006",
        ]
    ),
    "streams.py": Case(["over TCP", "in memory"] + ([] if sys.platform == "win32" else ["over a Unix socket"])),
    "shutdown.py": Case(
        [
            "client: hello",
            "server: stopping on SIGTERM",
            "server: open connections: 1",
            "client: server closed with 1001 server shutting down",
        ]
    ),
    "errors.py": Case(
        [
            "InvalidURI: 'http://example.com/' is not a ws:// or wss:// URL",
            "HandshakeRejected: 404 not here",
            "log: ERROR asyncwebsockets.server: error in the connection handler for ('127.0.0.1', ",
            "ZeroDivisionError: division by zero",
            "ConnectionClosed: 1011 internal error",
            "next client: still serving",
            "HandshakeError: cannot connect to 127.0.0.1:",
        ]
    ),
    "log_records.py": Case(
        [
            "plain HTTP got: HTTP/1.1 426 Upgrade Required",
            "asyncwebsockets.server ERROR error in the connection handler for ('127.0.0.1', ",
            "RuntimeError: something went wrong",
            "client saw: 1011 internal error",
        ]
    ),
    "http_hooks.py": Case(
        [
            "health check: 200 OK",
            "origin https://evil.example, no credentials: HTTP 403",
            "origin None, no credentials: HTTP 401",
            "with credentials: hello",
        ]
    ),
    "scaling.py": Case(
        ["both workers on one port: True", "clients on each worker: True True", "all "],
        backends=("asyncio",),  # redis-py's client is asyncio's
        needs=("redis",),
        redis=True,
    ),
    "proxies.py": Case(
        ["without credentials: 407", "through http: hello", "through socks5: hello"],
        needs=("pproxy", "python_socks"),
    ),
    "redirects.py": Case(["followed: /v2/chat: hello", "not followed: HTTP 308 to /v2/chat"]),
    "reconnecting.py": Case(
        ["client: hello from server run 1", "client: connection lost with 1001", "client: hello from server run 2"]
    ),
    "listen.py": Case(["over a Unix socket: hello", "over a socket handed in: hello"]),
    "limits.py": Case(
        ["got 1000 bytes", "too big: 1009 message exceeds 1024 bytes", "10485760 bytes, sha256 106d011ba0bf1ca5"]
    ),
}

if sys.platform == "win32":
    CASES["shutdown.py"] = Case([], backends=())  # POSIX signals

# Runs one example in a fresh process: python -c RUNNER <file> <backend> <scheme>
RUNNER = r"""
import inspect, os, runpy, socket, ssl, sys
from functools import partial

import anyio

from asyncwebsockets import create_websocket, serve

path, backend, scheme = sys.argv[1:4]
main = runpy.run_path(path, run_name="docs_example")["main"]
params = list(inspect.signature(main).parameters)


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def as_client():
    context = None
    if scheme == "wss":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.environ["DOCS_EXAMPLE_SERVER_PEM"])
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, echo, "127.0.0.1", 0, ssl=context))
        await main(f"{scheme}://127.0.0.1:{server.port}/")
        tg.cancel_scope.cancel()


async def as_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with anyio.create_task_group() as tg:
        tg.start_soon(main, port)
        with anyio.fail_after(10):
            while True:
                try:
                    ws = await create_websocket(f"ws://127.0.0.1:{port}/")
                    break
                except ConnectionError:
                    await anyio.sleep(0.05)
            await ws.send("hello")
            print(f"harness: echoed {(await ws.receive()).data!r}", flush=True)
            await ws.close()
            await anyio.sleep(0.2)  # let the handler say goodbye
        tg.cancel_scope.cancel()


async def run():
    if not params:
        await main()
    elif params[0] == "url":
        await as_client()
    elif params[0] == "port":
        await as_server()
    else:
        raise SystemExit(f"main({params[0]}) is not a known example shape")


anyio.run(run, backend=backend)
"""


def example_files() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py"))


def rst_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


def test_every_example_has_a_case() -> None:
    assert example_files() == sorted(CASES)


def test_every_example_is_shown_and_every_include_is_tested() -> None:
    shown = set()
    for rst in rst_files():
        for target in re.findall(r"^\s*\.\. literalinclude:: (\S+)", rst.read_text(), flags=re.M):
            path = (rst.parent / target).resolve()
            assert path.is_file(), f"{rst.relative_to(ROOT)} includes missing {target}"
            # Programs from examples/ are run by tests/test_examples.py.
            assert path.parent in (EXAMPLES, ROOT / "examples"), f"{rst.relative_to(ROOT)} includes untested {target}"
            if path.parent == EXAMPLES:
                shown.add(path.name)
    assert shown == set(example_files()), f"never shown: {set(example_files()) - shown}"


def test_no_python_outside_tested_examples() -> None:
    """Python code is shown only through literalinclude of a tested example."""
    for rst in rst_files():
        text = rst.read_text()
        blocks = re.findall(r"^\s*\.\. (?:code-block|code|sourcecode)::\s*(\S*)", text, flags=re.M)
        python = [lang for lang in blocks if lang.lower() in ("", "python", "python3", "py", "pycon")]
        assert not python, f"{rst.relative_to(ROOT)} has an untested Python block"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway authority installed as the system one, and a server certificate from it."""
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    server_file = directory / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server_file))
    return {"SSL_CERT_FILE": str(ca_file), "DOCS_EXAMPLE_SERVER_PEM": str(server_file)}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real Redis server on a free port of 127.0.0.1, for as long as the module's tests run."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


PARAMS = [
    pytest.param(name, backend, id=f"{name[:-3]}-{backend}")
    for name, case in sorted(CASES.items())
    for backend in case.backends
]


@pytest.mark.parametrize("name, backend", PARAMS)
def test_example_runs(name: str, backend: str, request: pytest.FixtureRequest) -> None:
    case = CASES[name]
    if backend == "trio":
        pytest.importorskip("trio")
    for module in case.needs:
        pytest.importorskip(module)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    if case.scheme == "wss":
        env.update(request.getfixturevalue("tls_files"))
    if case.redis:
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(EXAMPLES / name), backend, case.scheme or "ws"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(EXAMPLES),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in case.expected:
        assert line in result.stdout, f"{line!r} not in the output of {name}:\n{result.stdout}\n{result.stderr}"


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    """The build needs no network and gives no warnings (as ``sphinx -W``)."""
    pytest.importorskip("sphinx", reason="sphinx is in the docs extra: pip install '.[docs]'")
    env = {k: v for k, v in os.environ.items() if k != "ASYNCWEBSOCKETS_DOCS_ONLINE"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-E", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
