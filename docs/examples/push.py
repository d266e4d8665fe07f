"""How-to: a handler that only sends; the connection is looked after anyway."""

import anyio

from asyncwebsockets import ConnectionClosed, open_websocket, serve


async def ticker(ws):
    # No reading here: pings are answered and the client's close is
    # noticed by the connection itself, and send() then raises.
    tick = 0
    try:
        while True:
            await ws.send(f"tick {tick}")
            tick += 1
            await anyio.sleep(0.05)
    except ConnectionClosed as exc:
        print(f"server: the client left with {exc.code} {exc.reason!r} after {tick} ticks")


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, ticker, "127.0.0.1", 0)
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            print((await ws.receive()).data)
            with anyio.fail_after(5):
                latency = await ws.ping()
            print(f"the server answered a ping in {latency * 1000:.1f} ms")
            print((await ws.receive()).data)  # ticks that came meanwhile are kept
            await ws.close(1000, "bye")
        await anyio.sleep(0.1)  # let the server print
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
