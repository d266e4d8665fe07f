"""How-to: several worker processes on one port, sharing messages through Redis.

Each worker is `run_worker(port, redis_url)` in a process of its own
(started by your process manager, or with multiprocessing). This example
runs two of them side by side in one process, to show a message sent to one
worker reaching the clients of the other.
"""

import os
from functools import partial

import anyio
import redis.asyncio as redis

from asyncwebsockets import ConnectionClosed, create_websocket, serve

CHANNEL = "chat"


async def run_worker(port, redis_url, *, task_status=anyio.TASK_STATUS_IGNORED):
    """One worker: its own connections, and everyone's messages through Redis."""
    broker = redis.from_url(redis_url)
    local = set()  # this worker's connections

    async def handler(ws):
        local.add(ws)
        try:
            async for message in ws:
                # Published to every worker, this one included.
                await broker.publish(CHANNEL, message.data)
        finally:
            local.discard(ws)

    async def relay(pubsub):
        async for item in pubsub.listen():
            if item["type"] == "message":
                for ws in list(local):
                    try:
                        await ws.send(item["data"].decode())
                    except ConnectionClosed:
                        pass

    async with broker.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay, pubsub)
            # reuse_port: every worker listens on the same port, and the
            # kernel shares the connections out between them.
            server = await tg.start(partial(serve, handler, "127.0.0.1", port, reuse_port=True))
            task_status.started(server)
    await broker.aclose()


async def main():
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    async with anyio.create_task_group() as tg:
        first = await tg.start(run_worker, 0, redis_url)
        second = await tg.start(run_worker, first.port, redis_url)
        print("both workers on one port:", first.port == second.port)

        # Connect until the kernel has put a client on each worker.
        url = f"ws://127.0.0.1:{first.port}/"
        clients = []
        while not (first.connections and second.connections):
            clients.append(await create_websocket(url))
        print("clients on each worker:", bool(first.connections), bool(second.connections))
        await anyio.sleep(0.1)  # let both workers' subscriptions settle

        await clients[0].send("hello, everyone")
        for ws in clients:
            assert (await ws.receive()).data == "hello, everyone"
        print(f"all {len(clients)} clients got the message")

        for ws in clients:
            await ws.close()
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
