"""How-to: keepalive pings find a peer that has stopped answering."""

from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def main():
    cut = anyio.Event()

    async def unreliable_network(client):
        # Between the client and the server: forwards bytes both ways until
        # the "cable is cut", then drops everything, as a dead route would.
        async with await anyio.connect_tcp("127.0.0.1", server.port) as upstream:

            async def pipe(source, sink):
                async for data in source:
                    if not cut.is_set():
                        await sink.send(data)

            async with anyio.create_task_group() as pipes:
                pipes.start_soon(pipe, client, upstream)
                pipes.start_soon(pipe, upstream, client)

    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, echo, "127.0.0.1", 0))
        network = await anyio.create_tcp_listener(local_host="127.0.0.1")
        tg.start_soon(network.serve, unreliable_network)
        port = network.extra(anyio.abc.SocketAttribute.local_port)

        # A ping every 0.5 s; fail if nothing at all comes back 0.5 s later.
        async with open_websocket(f"ws://127.0.0.1:{port}/", ping_interval=0.5, ping_timeout=0.5) as ws:
            await ws.send("hello")
            print("echoed:", (await ws.receive()).data)
            cut.set()
            started = anyio.current_time()
            async for message in ws:
                print("unexpected:", message)
            elapsed = anyio.current_time() - started
            print(f"gave up after {elapsed:.1f} s: {ws.close_code} {ws.close_reason}")

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
