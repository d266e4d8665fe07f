"""A TLS server that picks a subprotocol and turns some clients away.

Generates a throwaway certificate authority with ``trustme`` (a test
dependency), so it runs anywhere without real certificates.
"""

import ssl

import anyio
import trustme

from asyncwebsockets import HandshakeRejected, Reject, create_websocket, open_websocket, serve


async def check(request):
    # Called with the client's wsproto Request before accepting.
    if not request.target.startswith("/chat"):
        return Reject(404, body="no such endpoint")
    if "chat.v2" in request.subprotocols:
        return "chat.v2"  # accept with this subprotocol
    return Reject(400, body="chat.v2 is required")


async def chat(ws):
    await ws.send(f"welcome, you speak {ws.subprotocol}")


async def main():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve(chat, "127.0.0.1", 0, ssl=server_context, filter=check, task_status=task_status)
        )
        url = f"wss://localhost:{server.port}"
        async with open_websocket(url + "/chat", subprotocols=["chat.v2"], ssl=client_context) as ws:
            print((await ws.receive()).data)
        try:
            await create_websocket(url + "/elsewhere", ssl=client_context)
        except HandshakeRejected as exc:
            print("rejected:", exc.status_code, exc.body.decode())
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
