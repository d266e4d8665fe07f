"""How-to: measure the round trip to the peer with a ping."""

import anyio

from asyncwebsockets import open_websocket


async def main(url):
    async with open_websocket(url) as ws:
        # Nobody else reads this connection, so ping() reads until its
        # pong arrives.
        latency = await ws.ping()
        print(f"round trip: {latency * 1000:.3f} ms")

        # With a task iterating over the connection, that task reads the
        # pong and ping() just waits for it.
        async with anyio.create_task_group() as readers:

            async def read_all():
                async for message in ws:
                    print("received:", message.data)

            readers.start_soon(read_all)
            await ws.send("still here")
            with anyio.fail_after(5):  # a bound of our own on the wait
                latency = await ws.ping()
            print(f"round trip while reading: {latency * 1000:.3f} ms")
            await ws.close()


if __name__ == "__main__":
    anyio.run(main, "ws://127.0.0.1:8765/")  # e.g. the tutorial's server
