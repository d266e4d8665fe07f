"""Tutorial: a client that says hello to an echo server."""

import anyio

from asyncwebsockets import open_websocket


async def main(url):
    async with open_websocket(url) as ws:
        await ws.send("Hello, server!")
        reply = await ws.receive()
        print("The server said:", reply.data)
    print("Connection closed with code", ws.close_code)


if __name__ == "__main__":
    anyio.run(main, "wss://echo.example.com/")
