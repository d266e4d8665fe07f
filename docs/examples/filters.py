"""How-to: accept or refuse connections with a filter, by what it returns."""

from functools import partial

import anyio
from wsproto.events import AcceptConnection, RejectConnection

from asyncwebsockets import HandshakeRejected, Reject, create_websocket, serve


async def decide(request):
    """Called with the client's wsproto Request before the handshake is answered."""
    path = request.target.split("?")[0]
    if path == "/open":
        return True  # accept
    if path == "/chat":
        return "chat.v1"  # accept with this subprotocol
    if path == "/custom":
        return AcceptConnection(subprotocol=None, extra_headers=[(b"set-cookie", b"session=42")])
    if path == "/private":
        return False  # HTTP 403, no body
    if path == "/login":
        return RejectConnection(status_code=401, headers=[(b"www-authenticate", b'Basic realm="demo"')])
    return Reject(404, headers=[("content-type", "text/plain")], body="no such endpoint")


async def hello(ws):
    await ws.send(f"hello on {ws.request.target}, subprotocol {ws.subprotocol}")


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, hello, "127.0.0.1", 0, filter=decide, subprotocols=["chat.v2"]))
        base = f"ws://127.0.0.1:{server.port}"
        for path in ["/open", "/chat", "/custom", "/private", "/login", "/elsewhere"]:
            try:
                ws = await create_websocket(base + path, subprotocols=["chat.v1"])
            except HandshakeRejected as exc:
                print(f"{path}: refused, HTTP {exc.status_code} {exc.body!r}")
                continue
            async with ws:
                print(f"{path}: {(await ws.receive()).data}")
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
