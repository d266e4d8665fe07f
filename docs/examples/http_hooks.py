"""How-to: answer health checks and redirects, ask for credentials, check the Origin."""

import urllib.request
from functools import partial

import anyio

from asyncwebsockets import (
    HandshakeRejected,
    Response,
    basic_auth,
    check_origin,
    create_websocket,
    open_websocket,
    serve,
)


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


def plain_http(request):
    # Sees every request first, plain HTTP included.
    if request.path == "/healthz":
        return Response(200, body="OK\n")
    if request.path == "/chat-v1":
        return Response.redirect("/chat", 308)
    return None  # go on with the WebSocket handshake


def fetch(url):
    """What a load balancer's health check does."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as response:
        return response.status, response.read().decode().strip()


async def main():
    hooks = [
        plain_http,
        check_origin(["https://chat.example", None]),  # None: clients that send no Origin
        basic_auth("chat", {"ann": "s3cret"}),
    ]
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, echo, "127.0.0.1", 0, process_request=hooks))
        http, ws = f"http://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}"

        print("health check:", *await anyio.to_thread.run_sync(fetch, http + "/healthz"))

        for origin in ["https://evil.example", None]:
            try:
                await create_websocket(ws + "/chat", origin=origin)
            except HandshakeRejected as exc:
                print(f"origin {origin}, no credentials: HTTP {exc.status_code}")

        async with open_websocket(
            f"ws://ann:s3cret@127.0.0.1:{server.port}/chat", origin="https://chat.example"
        ) as conn:
            await conn.send("hello")
            print("with credentials:", (await conn.receive()).data)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
