"""How-to: stop a server gracefully when the process is asked to stop."""

import os
import signal
from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def run_server(host, port, *, task_status=anyio.TASK_STATUS_IGNORED):
    """Serve until SIGTERM or SIGINT, then close every connection with 1001."""
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, echo, host, port, close_timeout=5))
        task_status.started(server)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                print("server: stopping on", signal.Signals(signum).name)
                print("server: open connections:", len(server.connections))
                # Stop listening, close each connection with 1001, give the
                # handlers up to 5 s to return, then cancel what is left.
                await server.aclose(timeout=5)
                break


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(run_server, "127.0.0.1", 0)
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("hello")
            print("client:", (await ws.receive()).data)
            os.kill(os.getpid(), signal.SIGTERM)  # as a process manager would
            async for _ in ws:
                pass
            print("client: server closed with", ws.close_code, ws.close_reason)


if __name__ == "__main__":
    anyio.run(main)
