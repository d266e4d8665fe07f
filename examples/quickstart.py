"""A server and a client in one script: the shortest complete program."""

import anyio

from asyncwebsockets import open_websocket, serve


async def echo(ws):
    # One task per connection; iteration ends when the client closes.
    async for message in ws:
        await ws.send(message.data)


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, echo, "127.0.0.1", 0)
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("hello")
            reply = await ws.receive()
            print("echoed:", reply.data)
            print("round trip of a ping:", round(await ws.ping() * 1e6), "us")
        print("closed with", ws.close_code)
        tg.cancel_scope.cancel()  # stop the server


if __name__ == "__main__":
    anyio.run(main)  # or anyio.run(main, backend="trio")
