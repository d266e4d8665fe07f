"""How-to: listen on a Unix socket, or on a socket made elsewhere."""

import os
import socket
import tempfile
from functools import partial

import anyio

from asyncwebsockets import open_websocket, open_websocket_client, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def main():
    async with anyio.create_task_group() as tg:
        # A Unix socket: for a reverse proxy on the same machine.
        path = os.path.join(tempfile.mkdtemp(), "chat.sock")
        await tg.start(partial(serve, echo, path=path))
        async with open_websocket_client(await anyio.connect_unix(path), "localhost", "/") as ws:
            await ws.send("hello")
            print("over a Unix socket:", (await ws.receive()).data)

        # A socket made elsewhere: by systemd socket activation
        # (socket.socket(fileno=3)), or before forking worker processes.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await tg.start(partial(serve, echo, sock=sock))
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("hello")
            print("over a socket handed in:", (await ws.receive()).data)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
