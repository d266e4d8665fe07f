"""How-to: the exceptions a client meets, and a server that survives its handlers."""

import logging
import sys
from functools import partial

import anyio

from asyncwebsockets import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRejected,
    InvalidURI,
    Reject,
    create_websocket,
    open_websocket,
    serve,
)


async def fragile(ws):
    async for message in ws:
        if message.data == "divide":
            1 / 0
        await ws.send(message.data)


async def only_root(request):
    return True if request.target == "/" else Reject(404, body="not here")


async def main():
    # The server logs a failing handler, with its traceback.
    logging.basicConfig(stream=sys.stdout, format="log: %(levelname)s %(name)s: %(message)s")

    # A bad URL is a ValueError, raised before any network activity.
    try:
        await create_websocket("http://example.com/")
    except InvalidURI as exc:
        print("InvalidURI:", exc)

    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, fragile, "127.0.0.1", 0, filter=only_root))
        base = f"ws://127.0.0.1:{server.port}"

        try:
            await create_websocket(base + "/missing")
        except HandshakeRejected as exc:  # a HandshakeError
            print("HandshakeRejected:", exc.status_code, exc.body.decode())

        # The handler fails: that connection is closed with 1011, and the
        # error is logged on the "asyncwebsockets.server" logger.
        async with open_websocket(base + "/") as ws:
            await ws.send("divide")
            try:
                await ws.receive()
            except ConnectionClosed as exc:
                print("ConnectionClosed:", exc.code, exc.reason)

        # The server is still up for the next client.
        async with open_websocket(base + "/") as ws:
            await ws.send("still serving")
            print("next client:", (await ws.receive()).data)

        tg.cancel_scope.cancel()

    # Nothing listens on this port any more: the connection is refused.
    # Every error but InvalidURI is a ConnectionError, as in 0.x.
    try:
        await create_websocket(base + "/")
    except ConnectionError as exc:
        assert isinstance(exc, HandshakeError)
        print(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    anyio.run(main)
