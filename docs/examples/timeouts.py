"""How-to: time limits on connecting, on receiving and on closing."""

from functools import partial

import anyio
from anyio.abc import SocketAttribute

from asyncwebsockets import HandshakeTimeout, create_websocket, open_websocket, serve


async def main():
    # A TCP server that accepts connections and never says a word.
    silent = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = silent.extra(SocketAttribute.local_port)

    async def say_nothing(stream):
        await anyio.sleep_forever()

    stop = anyio.Event()

    async def busy(ws):
        await ws.send("one message, then silence")
        await stop.wait()  # never reads, so never answers a close frame

    async with silent, anyio.create_task_group() as tg:
        tg.start_soon(silent.serve, say_nothing)

        # 1. open_timeout bounds connecting plus the opening handshake.
        try:
            await create_websocket(f"ws://127.0.0.1:{port}/", open_timeout=0.5)
        except HandshakeTimeout as exc:
            print("open:", exc)

        server = await tg.start(partial(serve, busy, "127.0.0.1", 0))
        url = f"ws://127.0.0.1:{server.port}/"
        async with open_websocket(url, close_timeout=0.5) as ws:
            # 2. Receiving has no timeout option: use a cancel scope.
            # Cancelling a receive loses nothing; the next one goes on.
            print("received:", (await ws.receive()).data)
            with anyio.move_on_after(0.5) as scope:
                await ws.receive()
            print("receive timed out:", scope.cancelled_caught)

            # 3. close_timeout bounds the wait for the peer's close frame.
            started = anyio.current_time()
            await ws.close()
            print(f"close gave up after {anyio.current_time() - started:.1f} s:", ws.close_code)

        stop.set()
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
