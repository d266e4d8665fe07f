"""How-to: stay connected across server restarts with ``async for ws in connect(url)``."""

import logging
from functools import partial

import anyio

from asyncwebsockets import ConnectionClosed, connect, serve


async def main():
    logging.basicConfig(format="log: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncwebsockets.client").setLevel(logging.INFO)
    starts = 0

    async def hello(ws):
        await ws.send(f"hello from server run {starts}")
        await anyio.sleep_forever()

    async def run_server(port, *, task_status):
        nonlocal starts
        starts += 1
        await serve(hello, "127.0.0.1", port, task_status=task_status)

    async with anyio.create_task_group() as tg:
        server_scope = anyio.CancelScope()

        async def server_task(port=0, *, task_status):
            with server_scope:
                await run_server(port, task_status=task_status)

        server = await tg.start(server_task)
        port = server.port

        async def restart():
            nonlocal server_scope
            await anyio.sleep(0.3)
            server_scope.cancel()  # the server stops...
            await anyio.sleep(0.5)  # ...is down for a while...
            server_scope = anyio.CancelScope()
            await tg.start(partial(server_task, port))  # ...and comes back

        received = 0
        # Short waits for the example; the defaults are 1 s growing to 90 s.
        async for ws in connect(f"ws://127.0.0.1:{port}/", backoff_initial=0.1, backoff_max=1):
            try:
                print("client:", (await ws.receive()).data)
                received += 1
                if received == 2:
                    break
                tg.start_soon(restart)
                await ws.receive()
            except ConnectionClosed as exc:
                print("client: connection lost with", exc.code)
                continue

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
