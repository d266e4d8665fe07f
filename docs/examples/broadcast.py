"""How-to: receive and send at the same time; broadcast to every client."""

import anyio

from asyncwebsockets import ConnectionClosed, open_websocket, serve

clients = set()


async def broadcast(message):
    # A send waits while that client is not reading; with a time limit per
    # client, one stalled client cannot hold everybody else up for long.
    for ws in list(clients):
        with anyio.move_on_after(1):
            try:
                await ws.send(message)
            except ConnectionClosed:
                pass


async def chat(ws):
    name = ws.request.target.lstrip("/")
    clients.add(ws)
    try:
        await ws.send(f"welcome, {name}")
        async for message in ws:
            await broadcast(f"{name}: {message.data}")
    finally:
        clients.discard(ws)


async def listen(ws, name, count):
    for _ in range(count):
        print(f"{name} heard {(await ws.receive()).data}")


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, chat, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.port}"
        async with open_websocket(f"{url}/ann") as ann, open_websocket(f"{url}/bob") as bob:
            for ws in (ann, bob):
                print((await ws.receive()).data)
            # Two tasks receive while this one sends: a connection may be
            # used for sending and receiving at the same time.
            async with anyio.create_task_group() as listeners:
                listeners.start_soon(listen, ann, "ann", 2)
                listeners.start_soon(listen, bob, "bob", 2)
                await ann.send("hi all")
                await bob.send("hello")
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
