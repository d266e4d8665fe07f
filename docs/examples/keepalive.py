"""How-to: keepalive pings find a peer that has stopped answering."""

from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def main():
    stop = anyio.Event()

    async def stuck(ws):
        # This handler never reads, so the server never answers pings:
        # to the client it looks like a dead peer.
        await stop.wait()

    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, stuck, "127.0.0.1", 0))
        url = f"ws://127.0.0.1:{server.port}/"

        # After 0.5 s of silence, ping; fail if nothing comes 0.5 s later.
        async with open_websocket(url, ping_interval=0.5, ping_timeout=0.5) as ws:
            started = anyio.current_time()
            async for message in ws:
                print("unexpected:", message)
            elapsed = anyio.current_time() - started
            print(f"gave up after {elapsed:.1f} s: {ws.close_code} {ws.close_reason}")

        stop.set()
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
