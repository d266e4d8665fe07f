"""Code written for asyncwebsockets 0.x, unchanged, against a local server.

The two functions below are what the 0.x documentation and tests showed;
they run as they are on asyncio and on trio.
"""

import anyio
from wsproto.events import BytesMessage, Message, TextMessage

from asyncwebsockets.client import create_websocket_client, open_websocket
from asyncwebsockets.server import open_websocket_server


# --- 0.x code starts here ---------------------------------------------------
async def serve_one(s):
    async with open_websocket_server(s) as w:
        async for m in w:
            if isinstance(m, Message):
                await w.send(m.data)
            else:
                break


async def client(url):
    async with open_websocket(url) as websocket:
        await websocket.send("hello")
        async for evt in websocket:
            if isinstance(evt, TextMessage):
                print(f"Thanks for saying '{evt.data}'!")
                await websocket.close(1000, reason="Goodbye!")


async def client_on_socket(conn):
    sock = await create_websocket_client(conn, "localhost", "/", subprotocols=["echo"])
    await sock.send(b"test")
    rcvd = 0
    async for message in sock:
        if isinstance(message, BytesMessage):
            assert message.data == b"test"
            rcvd += 1
            await sock.close(code=1000, reason="Thank you!")
    assert rcvd == 1
    await sock.close()


# --- 0.x code ends here -----------------------------------------------------


async def main():
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve_one)
        await client(f"ws://127.0.0.1:{port}/")
        await client_on_socket(await anyio.connect_tcp("127.0.0.1", port))
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
        print(f"0.x code ran unchanged on {backend}")
