"""End-to-end demo: a server and a client exchanging messages on 127.0.0.1.

Runs on asyncio and on trio (if installed), prints round-trip times and
whether the compiled speedups are in use.
"""

from __future__ import annotations

import statistics
import sys
import time

import anyio
from wsproto.events import TextMessage

import asyncwebsockets
from asyncwebsockets import Websocket, open_websocket, serve


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


async def exchange(backend: str) -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, echo, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.port}/demo"
        async with open_websocket(url) as ws:
            await ws.send("hello from the client")
            reply = await ws.receive()
            assert isinstance(reply, TextMessage)
            print(f"[{backend}] server echoed: {reply.data!r}")

            for size in (32, 1024, 65536, 1 << 20):
                payload = b"x" * size
                rounds = 200 if size <= 65536 else 20
                times = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    await ws.send(payload)
                    message = await ws.receive()
                    times.append(time.perf_counter() - start)
                    assert message.data == payload
                p50 = statistics.median(times) * 1e6
                print(f"[{backend}] {size:>8} B round trip: median {p50:8.1f} us over {rounds} messages")
            print(f"[{backend}] ping round trip: {await ws.ping() * 1e6:.1f} us")
        print(f"[{backend}] closed with code {ws.close_code}")
        tg.cancel_scope.cancel()


def main() -> None:
    print(f"asyncwebsockets {asyncwebsockets.__version__}, compiled speedups: {asyncwebsockets.SPEEDUPS}")
    backends = ["asyncio"]
    try:
        import trio  # noqa: F401

        backends.append("trio")
    except ImportError:
        print("(trio not installed: asyncio only)")
    for backend in backends:
        anyio.run(exchange, backend, backend=backend)
    sys.exit(0)


if __name__ == "__main__":
    main()
