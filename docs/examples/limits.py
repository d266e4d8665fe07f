"""Limits: a message too large for the receiver, and streaming a large one."""

import hashlib
from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def small_only(ws):
    async for message in ws:
        await ws.send(f"got {len(message.data)} bytes")


async def checksum(ws):
    # No size limit, but frames are handled one at a time: memory stays at
    # one frame (at most 64 KiB here), whatever the message size.
    digest, size = hashlib.sha256(), 0
    async for frame in ws:
        digest.update(frame.data)
        size += len(frame.data)
        if frame.message_finished:
            await ws.send(f"{size} bytes, sha256 {digest.hexdigest()[:16]}")
            digest, size = hashlib.sha256(), 0


async def main():
    async with anyio.create_task_group() as tg:
        strict = await tg.start(partial(serve, small_only, "127.0.0.1", 0, max_message_size=1024))
        async with open_websocket(f"ws://127.0.0.1:{strict.port}/") as ws:
            await ws.send(b"x" * 1000)
            print((await ws.receive()).data)
            await ws.send(b"x" * 2000)
            async for _ in ws:
                pass
            print("too big:", ws.close_code, ws.close_reason)

        streaming = await tg.start(
            partial(serve, checksum, "127.0.0.1", 0, max_message_size=64 * 1024, reassemble=False)
        )
        async with open_websocket(f"ws://127.0.0.1:{streaming.port}/") as ws:
            chunk = b"y" * (64 * 1024)
            for _ in range(159):  # about 10 MiB in 160 frames
                await ws.send(chunk, final=False)
            await ws.send(chunk, final=True)
            print((await ws.receive()).data)

        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
