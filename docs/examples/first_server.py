"""Tutorial: an echo server that runs until you press Ctrl+C."""

import anyio

from asyncwebsockets import serve


async def echo(ws):
    print("Client connected from", ws.remote_address)
    async for message in ws:
        await ws.send(message.data)
    print("Client left with code", ws.close_code)


async def main(port=8765):
    await serve(echo, "127.0.0.1", port)


if __name__ == "__main__":
    anyio.run(main)
