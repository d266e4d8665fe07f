"""How-to: receive one message piece by piece, as its frames arrive."""

import hashlib
from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve

FRAME = 64 * 1024


async def send_file(ws):
    await ws.receive()  # the client asks for the file
    # One message of 4 MiB in frames of 64 KiB: four times the client's
    # max_message_size (1 MiB by default), but each frame is well within it.
    await ws.send(bytes([n]) * FRAME for n in range(64))
    await ws.send("that was all")
    await ws.receive()


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, send_file, "127.0.0.1", 0))
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("send the file, please")
            digest, size, pieces = hashlib.sha256(), 0, 0
            async for piece in ws.receive_streaming():
                digest.update(piece)
                size += len(piece)
                pieces += 1
            print(f"client: {size} bytes in {pieces} pieces, sha256 {digest.hexdigest()[:12]}")
            # The messages after it are whole again.
            print("client:", (await ws.receive()).data)
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
