"""Code as a typed application writes it: ``test_typing`` checks it under mypy --strict.

Never run; it only has to type-check, so that what users write against
the public API needs no casts or ignores.
"""

from __future__ import annotations

import functools
import ssl

import anyio
import anyio.abc
from wsproto.events import BytesMessage, Request, TextMessage

from asyncwebsockets import (
    ConnectionClosed,
    HTTPRequest,
    PerMessageDeflate,
    Reject,
    Response,
    Websocket,
    WebSocketServer,
    basic_auth,
    check_origin,
    connect,
    create_websocket_client,
    open_websocket,
    open_websocket_server,
    serve,
)


async def handler(ws: Websocket) -> None:
    async for message in ws:
        data: str | bytes | bytearray = message.data
        await ws.send(data)


async def chat(url: str) -> list[str]:
    texts: list[str] = []
    async with open_websocket(url, headers={"Authorization": "Bearer x"}, subprotocols=["chat"]) as ws:
        await ws.send("hello")
        message = await ws.receive()
        if isinstance(message, TextMessage):
            texts.append(message.data)
        elif isinstance(message, BytesMessage):
            texts.append(bytes(message.data).hex())
        async for event in ws:
            if isinstance(event, TextMessage):
                texts.append(event.data.upper())
        latency: float = await ws.ping()
        texts.append(f"{latency:.3f}")
        await ws.close(1000, "done")
        code: int | None = ws.close_code
        texts.append(str(code))
    return texts


async def reconnecting(url: str) -> None:
    async for ws in connect(url):
        try:
            async for message in ws:
                print(message.data)
        except ConnectionClosed as exc:
            print(exc.code, exc.reason)


async def main() -> None:
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve, handler, "127.0.0.1", 0)
        print(server.port)
        tg.cancel_scope.cancel()


def health(request: HTTPRequest) -> Response | None:
    if request.path == "/healthz":
        return Response(200, {"Content-Type": "text/plain"}, "OK\n")
    return None


async def tag(request: HTTPRequest, response: Response) -> Response:
    response.add_header("X-Served-By", "here")
    return response


async def only_chat(request: Request) -> bool | Reject:
    if request.target.startswith("/chat"):
        return True
    return Reject(404, {"Content-Type": "text/plain"}, "no such room\n")


async def production(certificate: ssl.SSLContext) -> None:
    async with anyio.create_task_group() as tg:
        server: WebSocketServer = await tg.start(
            functools.partial(
                serve,
                handler,
                "0.0.0.0",
                8443,
                only_chat,
                ssl=certificate,
                process_request=[
                    health,
                    check_origin(["https://example.com", None]),
                    basic_auth("chat", {"me": "secret"}),
                ],
                process_response=tag,
                extra_headers={"X-Version": "1"},
                subprotocols=["chat"],
                compression=PerMessageDeflate(client_max_window_bits=12),
                max_message_size=4 << 20,
                ping_interval=None,
                write_limit=(1 << 20, None),
            )
        )
        await server.aclose()


async def legacy(host: str, port: int) -> None:
    stream = await anyio.connect_tcp(host, port)
    ws = await create_websocket_client(stream, (host, port), "/", headers=[("X-A", "1")])
    async for event in ws:
        if isinstance(event, TextMessage):
            await ws.send(event.data)
    await ws.close(1000, reason="Goodbye!")

    async def serve_one(client: anyio.abc.SocketStream) -> None:
        async with open_websocket_server(client) as server_side:
            async for message in server_side:
                await server_side.send(message.data)

    listener = await anyio.create_tcp_listener(local_port=port)
    await listener.serve(serve_one)
