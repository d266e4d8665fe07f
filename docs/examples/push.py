"""How-to: a handler that only sends still needs a task that reads."""

import anyio

from asyncwebsockets import open_websocket, serve


async def read_until_closed(ws, scope):
    # Reading is what answers the client's pings and notices its close.
    async for message in ws:
        pass  # this feed ignores what clients say
    scope.cancel()


async def ticker(ws):
    async with anyio.create_task_group() as tg:
        tg.start_soon(read_until_closed, ws, tg.cancel_scope)
        tick = 0
        while True:
            await ws.send(f"tick {tick}")
            tick += 1
            await anyio.sleep(0.05)


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, ticker, "127.0.0.1", 0)
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            print((await ws.receive()).data)
            with anyio.fail_after(5):
                latency = await ws.ping()
            print(f"the server answered a ping in {latency * 1000:.1f} ms")
            print((await ws.receive()).data)  # ticks read meanwhile are kept
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
