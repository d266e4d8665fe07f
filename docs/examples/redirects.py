"""How-to: follow a server's redirects, or see them."""

from functools import partial

import anyio

from asyncwebsockets import RedirectError, Response, create_websocket, open_websocket, serve


async def echo(ws):
    async for message in ws:
        await ws.send(f"{ws.request.target}: {message.data}")


def moved(request):
    if request.path == "/v1/chat":
        return Response.redirect("/v2/chat", 308)
    return None


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, echo, "127.0.0.1", 0, process_request=moved))
        url = f"ws://127.0.0.1:{server.port}/v1/chat"

        # Followed without asking (up to 10 redirects).
        async with open_websocket(url) as ws:
            await ws.send("hello")
            print("followed:", (await ws.receive()).data)

        # max_redirects=0 reports the redirect instead.
        try:
            await create_websocket(url, max_redirects=0)
        except RedirectError as exc:
            print(f"not followed: HTTP {exc.status_code} to", dict(exc.headers)[b"location"].decode())

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
