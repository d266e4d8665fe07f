"""How-to: close a connection, and find out how it ended."""

from functools import partial

import anyio

from asyncwebsockets import ConnectionClosed, ConnectionClosedOK, open_websocket, serve


async def main():
    send_ended, ended = anyio.create_memory_object_stream(10)

    async def record(ws):
        async for message in ws:
            if message.data == "please go":
                # The server ends this one, with a code and a reason.
                await ws.close(4001, "asked to leave")
        await send_ended.send((ws.request.target, ws.close_code, ws.close_reason))

    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, record, "127.0.0.1", 0))
        base = f"ws://127.0.0.1:{server.port}"

        # The client closes: iteration on both sides ends.
        async with open_websocket(base + "/client-closes") as ws:
            await ws.close(1000, "done for today")
            try:
                await ws.send("too late")
            except ConnectionClosedOK as exc:
                print("send after close:", exc.code, exc.reason)
            await ws.close()  # closing again does nothing

        # The server closes: the client's loop simply ends.
        async with open_websocket(base + "/server-closes") as ws:
            await ws.send("please go")
            async for _ in ws:
                pass
            print("closed by server:", ws.close_code, ws.close_reason)

        # Code 1006 means "no close frame": close(1006) drops the
        # connection without one, like abort().
        async with open_websocket(base + "/abort") as ws:
            await ws.close(1006)
            print("aborted:", ws.close_code)
            try:
                await ws.receive()
            except ConnectionClosed as exc:
                print("receive after abort:", type(exc).__name__, exc.code)

        for _ in range(3):
            target, code, reason = await ended.receive()
            print(f"server saw {target} end with {code} {reason!r}")
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
