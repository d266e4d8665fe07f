"""Code as a typed application writes it: ``test_typing`` checks it under mypy --strict.

Never run; it only has to type-check, so that what users write against
the public API needs no casts or ignores.
"""

from __future__ import annotations

import anyio
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import ConnectionClosed, Websocket, connect, open_websocket, serve


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
