"""How-to: what a server logs, with the standard logging module."""

import logging
import sys

import anyio

from asyncwebsockets import open_websocket, serve


async def handler(ws):
    async for message in ws:
        if message.data == "fail":
            raise RuntimeError("something went wrong")
        await ws.send(message.data)


async def main():
    logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("asyncwebsockets").setLevel(logging.INFO)

    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, handler, "127.0.0.1", 0)

        # A plain HTTP request where a WebSocket upgrade was expected.
        async with await anyio.connect_tcp("127.0.0.1", server.port) as http:
            await http.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            print("plain HTTP got:", (await http.receive()).split(b"\r\n")[0].decode())

        # A handler that raises: logged at ERROR with its traceback.
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("fail")
            async for _ in ws:
                pass
            print("client saw:", ws.close_code, ws.close_reason)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
