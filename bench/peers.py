"""Echo servers and benchmark clients, one pair per library.

Each ``serve_<lib>(port_file)`` runs an echo server until killed (writing
its port to ``port_file``); each ``client_<lib>(url, size, mode, seconds,
conns)`` returns a dict with ``messages`` (replies received), ``elapsed``
and, in latency mode, ``rtts`` (seconds). Modes: ``latency`` (one message in
flight per connection) and ``pipelined`` (up to WINDOW in flight).

Every library runs with its default settings, keepalive pings included, as
its users run it; only compression is off everywhere (not every peer has it)
and the message size limit is raised to MAX.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

WINDOW = 100
MAX = 64 << 20


def _write_port(port_file: str, port: int) -> None:
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    import os

    os.replace(port_file + ".tmp", port_file)


# -- shared client driver for awaitable send/recv APIs ------------------------


async def _drive_asyncio(
    connect: Callable[[], Any], send: Any, recv: Any, close: Any, size: int, mode: str, seconds: float, conns: int
) -> dict[str, Any]:
    payload = b"x" * size
    connections = [await connect() for _ in range(conns)]
    rtts: list[float] = []
    counts = [0] * conns
    stop_at = time.perf_counter() + seconds

    async def latency(i: int) -> None:
        ws = connections[i]
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await send(ws, payload)
            await recv(ws)
            rtts.append(time.perf_counter() - start)
            counts[i] += 1

    async def pipelined(i: int) -> None:
        # The receiver only waits for replies to messages already counted
        # as sent; with nothing in flight it waits for the sender instead,
        # which may yet decide that time is up and send nothing more.
        ws = connections[i]
        window = asyncio.Semaphore(WINDOW)
        wake = asyncio.Event()
        in_flight = 0
        done = False

        async def sender() -> None:
            nonlocal in_flight, done
            while time.perf_counter() < stop_at:
                await window.acquire()
                in_flight += 1
                wake.set()
                await send(ws, payload)
            done = True
            wake.set()

        task = asyncio.ensure_future(sender())
        while True:
            if not in_flight:
                if done:
                    break
                wake.clear()
                await wake.wait()
                continue
            await recv(ws)
            counts[i] += 1
            in_flight -= 1
            window.release()
        await task

    start = time.perf_counter()
    await asyncio.gather(*((latency if mode == "latency" else pipelined)(i) for i in range(conns)))
    elapsed = time.perf_counter() - start
    for ws in connections:
        await close(ws)
    return {"messages": sum(counts), "elapsed": elapsed, "rtts": rtts}


# -- asyncwebsockets ------------------------------------------------------------


def serve_ours(port_file: str, backend: str) -> None:
    import anyio

    from asyncwebsockets import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message.data)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            server = await tg.start(
                lambda task_status: serve(echo, "127.0.0.1", 0, max_message_size=MAX, task_status=task_status)
            )
            _write_port(port_file, server.port)

    options = {"use_uvloop": True} if backend == "uvloop" else {}
    anyio.run(main, backend="trio" if backend == "trio" else "asyncio", backend_options=options)


def serve_ours_0x_api(port_file: str, backend: str) -> None:
    """Our server as code written for the 0.x API runs it: anyio accepts, we get each stream."""
    import anyio

    from asyncwebsockets import open_websocket_server

    async def handle(stream: Any) -> None:
        async with open_websocket_server(stream, max_message_size=MAX) as ws:
            async for message in ws:
                await ws.send(message.data)

    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        _write_port(port_file, listener.extra(anyio.abc.SocketAttribute.local_port))
        await listener.serve(handle)

    anyio.run(main, backend=backend)


def client_ours(url: str, size: int, mode: str, seconds: float, conns: int, backend: str) -> dict[str, Any]:
    import anyio

    from asyncwebsockets import create_websocket

    payload = b"x" * size

    async def main() -> dict[str, Any]:
        connections = [await create_websocket(url, max_message_size=MAX) for _ in range(conns)]
        rtts: list[float] = []
        counts = [0] * conns
        stop_at = time.perf_counter() + seconds

        async def latency(i: int) -> None:
            ws = connections[i]
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                await ws.send(payload)
                await ws.receive()
                rtts.append(time.perf_counter() - start)
                counts[i] += 1

        async def pipelined(i: int) -> None:
            # As in _drive_asyncio: receive only replies to messages counted
            # as sent, else wait for the sender (who may send no more).
            ws = connections[i]
            in_flight = 0
            sending = True
            can_send = anyio.Event()
            sent = anyio.Event()

            async def sender() -> None:
                nonlocal in_flight, sending, can_send
                while time.perf_counter() < stop_at:
                    while in_flight >= WINDOW:
                        can_send = anyio.Event()
                        await can_send.wait()
                    in_flight += 1
                    sent.set()
                    await ws.send(payload)
                sending = False
                sent.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(sender)
                while sending or in_flight:
                    if not in_flight:
                        sent = anyio.Event()
                        await sent.wait()
                        continue
                    await ws.receive()
                    counts[i] += 1
                    in_flight -= 1
                    can_send.set()

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(conns):
                tg.start_soon(latency if mode == "latency" else pipelined, i)
        elapsed = time.perf_counter() - start
        for ws in connections:
            await ws.close()
        return {"messages": sum(counts), "elapsed": elapsed, "rtts": rtts}

    options = {"use_uvloop": True} if backend == "uvloop" else {}
    return anyio.run(main, backend="trio" if backend == "trio" else "asyncio", backend_options=options)


# -- websockets -------------------------------------------------------------------


def serve_websockets(port_file: str) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, max_size=MAX, compression=None) as server:
            _write_port(port_file, list(server.sockets)[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


def client_websockets(url: str, size: int, mode: str, seconds: float, conns: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async def open_() -> Any:
        return await connect(url, max_size=MAX, compression=None)

    async def send(ws: Any, data: bytes) -> None:
        await ws.send(data)

    async def recv(ws: Any) -> None:
        await ws.recv()

    async def close(ws: Any) -> None:
        await ws.close()

    return asyncio.run(_drive_asyncio(open_, send, recv, close, size, mode, seconds, conns))


# -- aiohttp --------------------------------------------------------------------


def serve_aiohttp(port_file: str) -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: Any) -> Any:
        ws = web.WebSocketResponse(max_msg_size=MAX, compress=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _write_port(port_file, site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Future()

    asyncio.run(main())


def client_aiohttp(url: str, size: int, mode: str, seconds: float, conns: int) -> dict[str, Any]:
    import aiohttp

    async def main() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:

            async def open_() -> Any:
                return await session.ws_connect(url, max_msg_size=MAX, compress=0, autoping=True)

            async def send(ws: Any, data: bytes) -> None:
                await ws.send_bytes(data)

            async def recv(ws: Any) -> None:
                await ws.receive()

            async def close(ws: Any) -> None:
                await ws.close()

            return await _drive_asyncio(open_, send, recv, close, size, mode, seconds, conns)

    return asyncio.run(main())


# -- picows -------------------------------------------------------------------------


def serve_picows(port_file: str) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type in (WSMsgType.BINARY, WSMsgType.TEXT):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(lambda request: Echo(), "127.0.0.1", 0, max_frame_size=MAX)
        _write_port(port_file, server.sockets[0].getsockname()[1])
        await asyncio.Future()

    asyncio.run(main())


def client_picows(url: str, size: int, mode: str, seconds: float, conns: int) -> dict[str, Any]:
    from picows import WSListener, WSMsgType, ws_connect

    class Client(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.queue: asyncio.Queue[None] = asyncio.Queue()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.BINARY:
                self.queue.put_nowait(None)

    async def open_() -> Any:
        transport, listener = await ws_connect(Client, url, max_frame_size=MAX)
        return transport, listener

    async def send(ws: Any, data: bytes) -> None:
        ws[0].send(WSMsgType.BINARY, data)

    async def recv(ws: Any) -> None:
        await ws[1].queue.get()

    async def close(ws: Any) -> None:
        ws[0].send_close()
        ws[0].disconnect()

    return asyncio.run(_drive_asyncio(open_, send, recv, close, size, mode, seconds, conns))


# -- the original 0.x release ------------------------------------------------------

#: The release whose documented API we keep; benchmarked so that we are
#: never slower than what users are upgrading from.
ORIGINAL_VERSION = "0.9.4"


def _import_original() -> Any:
    """Import asyncwebsockets 0.9.4 in place of this checkout (in this process only).

    It has our distribution and package name, so it cannot be installed in
    the same environment: its wheel is downloaded once into a cache
    directory and put first on ``sys.path``.
    """
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "asyncwebsockets-bench" / ORIGINAL_VERSION
    if not (cache / "asyncwebsockets" / "websocket.py").exists():
        wheels = cache.parent / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(wheels),
                f"asyncwebsockets=={ORIGINAL_VERSION}",
            ],
            check=True,
        )
        wheel = next(wheels.glob(f"asyncwebsockets-{ORIGINAL_VERSION}-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(cache)
    for name in [m for m in sys.modules if m == "asyncwebsockets" or m.startswith("asyncwebsockets.")]:
        del sys.modules[name]
    sys.path.insert(0, str(cache))
    import asyncwebsockets

    assert Path(asyncwebsockets.__file__).parent.parent == cache, asyncwebsockets.__file__
    return asyncwebsockets


def fetch_original() -> None:
    """Download the original release now (so that a timed run does not)."""
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-c", "import peers; peers._import_original()"],
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).parent),
    )


def serve_original(port_file: str) -> None:
    import anyio

    original = _import_original()

    async def handle(sock: Any) -> None:
        try:
            ws = await original.create_websocket_server(sock)
            async for message in ws:
                await ws.send(message.data)
        except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError, ConnectionError, OSError):
            pass
        finally:
            await sock.aclose()

    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        _write_port(port_file, listener.extra(anyio.abc.SocketAttribute.local_port))
        await listener.serve(handle)

    anyio.run(main)


def client_original(url: str, size: int, mode: str, seconds: float, conns: int) -> dict[str, Any]:
    original = _import_original()

    async def send(ws: Any, data: bytes) -> None:
        await ws.send(data)

    async def recv(ws: Any) -> None:
        await ws._next_event()  # noqa: SLF001 - its iterator is an async generator; this is the same call

    async def close(ws: Any) -> None:
        await ws.close(1000)

    return asyncio.run(
        _drive_asyncio(lambda: original.create_websocket(url), send, recv, close, size, mode, seconds, conns)
    )


# -- trio-websocket ---------------------------------------------------------------


def serve_trio_websocket(port_file: str) -> None:
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    async def echo(request: Any) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    echo, "127.0.0.1", 0, ssl_context=None, max_message_size=MAX, task_status=task_status
                )
            )
            _write_port(port_file, server.port)

    trio.run(main)


def client_trio_websocket(url: str, size: int, mode: str, seconds: float, conns: int) -> dict[str, Any]:
    import trio
    from trio_websocket import connect_websocket_url

    payload = b"x" * size

    async def main() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            connections = [await connect_websocket_url(nursery, url, max_message_size=MAX) for _ in range(conns)]
            rtts: list[float] = []
            counts = [0] * conns
            stop_at = time.perf_counter() + seconds

            async def latency(i: int) -> None:
                ws = connections[i]
                while time.perf_counter() < stop_at:
                    start = time.perf_counter()
                    await ws.send_message(payload)
                    await ws.get_message()
                    rtts.append(time.perf_counter() - start)
                    counts[i] += 1

            async def pipelined(i: int) -> None:
                # As in _drive_asyncio: receive only replies to messages
                # counted as sent, else wait for the sender.
                ws = connections[i]
                limiter = trio.Semaphore(WINDOW)
                in_flight = 0
                done = False
                sent = trio.Event()

                async def sender() -> None:
                    nonlocal in_flight, done
                    while time.perf_counter() < stop_at:
                        await limiter.acquire()
                        in_flight += 1
                        sent.set()
                        await ws.send_message(payload)
                    done = True
                    sent.set()

                async with trio.open_nursery() as inner:
                    inner.start_soon(sender)
                    while True:
                        if not in_flight:
                            if done:
                                break
                            sent = trio.Event()
                            await sent.wait()
                            continue
                        await ws.get_message()
                        counts[i] += 1
                        in_flight -= 1
                        limiter.release()

            start = time.perf_counter()
            async with trio.open_nursery() as runners:
                for i in range(conns):
                    runners.start_soon(latency if mode == "latency" else pipelined, i)
            elapsed = time.perf_counter() - start
            for ws in connections:
                await ws.aclose()
            return {"messages": sum(counts), "elapsed": elapsed, "rtts": rtts}

    return trio.run(main)


LIBRARIES: dict[str, dict[str, Any]] = {
    "ours-asyncio": {"serve": lambda f: serve_ours(f, "asyncio"), "client": lambda *a: client_ours(*a, "asyncio")},
    "ours-uvloop": {"serve": lambda f: serve_ours(f, "uvloop"), "client": lambda *a: client_ours(*a, "uvloop")},
    "ours-trio": {"serve": lambda f: serve_ours(f, "trio"), "client": lambda *a: client_ours(*a, "trio")},
    "ours-0.x-api": {
        "serve": lambda f: serve_ours_0x_api(f, "asyncio"),
        "client": lambda *a: client_ours(*a, "asyncio"),
    },
    "ours-0.x-api-trio": {
        "serve": lambda f: serve_ours_0x_api(f, "trio"),
        "client": lambda *a: client_ours(*a, "trio"),
    },
    "aiohttp": {"serve": serve_aiohttp, "client": client_aiohttp},
    "picows": {"serve": serve_picows, "client": client_picows},
    "websockets": {"serve": serve_websockets, "client": client_websockets},
    "trio-websocket": {"serve": serve_trio_websocket, "client": client_trio_websocket},
    "original-0.x": {"serve": serve_original, "client": client_original},
}
