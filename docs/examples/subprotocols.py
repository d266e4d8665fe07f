"""How-to: offer subprotocols from the client, choose one on the server."""

from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def chat(ws):
    await ws.send(f"you speak {ws.subprotocol}")


async def main():
    async with anyio.create_task_group() as tg:
        # The server supports two versions and prefers whatever the client
        # lists first among them.
        server = await tg.start(partial(serve, chat, "127.0.0.1", 0, subprotocols=["chat.v2", "chat.v1"]))
        url = f"ws://127.0.0.1:{server.port}/"

        async with open_websocket(url, subprotocols=["chat.v3", "chat.v1"]) as ws:
            print("agreed on:", ws.subprotocol)
            print((await ws.receive()).data)

        async with open_websocket(url, subprotocols=["chat.v3"]) as ws:
            print("agreed on:", ws.subprotocol)  # nothing in common: None

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
