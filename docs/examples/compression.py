"""How-to: compress messages with permessage-deflate, and see what was agreed."""

from functools import partial

import anyio

from asyncwebsockets import PerMessageDeflate, open_websocket, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def main():
    async with anyio.create_task_group() as tg:
        # The server accepts compression; without the option it would decline.
        server = await tg.start(partial(serve, echo, "127.0.0.1", 0, compression="deflate"))
        url = f"ws://127.0.0.1:{server.port}/"

        async with open_websocket(url, compression="deflate") as ws:
            agreed = ws.compression
            print("windows:", agreed.server_max_window_bits, agreed.client_max_window_bits)
            await ws.send("a compressible message " * 1000)
            print("echoed", len((await ws.receive()).data), "characters")

        # Smaller windows and no context kept between messages: less memory
        # on both sides, less compression.
        frugal = PerMessageDeflate(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=10,
        )
        async with open_websocket(url, compression=frugal) as ws:
            agreed = ws.compression
            print("windows:", agreed.server_max_window_bits, agreed.client_max_window_bits)
            print("server keeps no context:", agreed.server_no_context_takeover)

        async with open_websocket(url) as ws:
            print("without the option:", ws.compression)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
