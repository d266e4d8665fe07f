"""How-to: send one message in pieces; receive a message frame by frame."""

from functools import partial

import anyio

from asyncwebsockets import open_websocket, serve


async def count_frames(ws):
    # With reassemble=False each frame arrives as soon as it is complete;
    # message_finished marks the last frame of a message.
    frames = 0
    async for frame in ws:
        frames += 1
        print(f"server: frame of {len(frame.data)} bytes, message_finished={frame.message_finished}")
        if frame.message_finished:
            await ws.send(f"{frames} frames")
            frames = 0


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(partial(serve, count_frames, "127.0.0.1", 0, reassemble=False))
        async with open_websocket(f"ws://127.0.0.1:{server.port}/") as ws:
            # final=False: more of the same message follows.
            await ws.send(b"a" * 1000, final=False)
            await ws.send(b"b" * 1000, final=False)
            await ws.send(b"c" * 10, final=True)
            print("client:", (await ws.receive()).data)
            # An ordinary send is a message of one frame.
            await ws.send(b"whole")
            print("client:", (await ws.receive()).data)
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
