"""How-to: extra request headers, the Origin header, credentials in the URL,
and headers in the server's answer."""

from functools import partial

import anyio
from wsproto.events import AcceptConnection

from asyncwebsockets import HandshakeRejected, create_websocket, open_websocket, serve

ALLOWED_ORIGINS = {"https://app.example.com"}


async def check(request):
    # Header names arrive lower-cased, names and values as bytes.
    headers = dict(request.extra_headers)
    if headers.get(b"origin", b"").decode() not in ALLOWED_ORIGINS:
        return False  # HTTP 403
    return AcceptConnection(extra_headers=[(b"x-server", b"demo/1.0")])


async def handler(ws):
    headers = dict(ws.request_headers)
    await ws.send(f"token {headers[b'x-api-token'].decode()}, authorization {headers[b'authorization'].decode()}")


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, handler, "127.0.0.1", 0, filter=check))
        # user:secret in the URL becomes a Basic Authorization header.
        url = f"ws://user:secret@127.0.0.1:{server.port}/"

        async with open_websocket(
            url,
            headers=[("X-API-Token", "abc123")],
            origin="https://app.example.com",
        ) as ws:
            print("server header:", dict(ws.response_headers)[b"x-server"].decode())
            print((await ws.receive()).data)

        try:
            await create_websocket(url)  # no Origin header
        except HandshakeRejected as exc:
            print("without an origin:", exc.status_code)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
