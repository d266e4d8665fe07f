"""Our echo server, as the Autobahn fuzzing client's testee.

    python compliance/testee_server.py --backend asyncio --port 9001

Set ASYNCWEBSOCKETS_NO_EXTENSIONS=1 to test the pure-Python codec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio  # noqa: E402

import asyncwebsockets  # noqa: E402
from asyncwebsockets import Websocket, serve  # noqa: E402

# Section 9 sends messages up to 16 MiB; the library default stays 1 MiB.
MAX_MESSAGE = 32 << 20


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


async def main(port: int) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: serve(
                echo,
                "127.0.0.1",
                port,
                max_message_size=MAX_MESSAGE,
                ping_interval=None,
                compression="deflate",  # sections 12 and 13 test permessage-deflate
                task_status=task_status,
            )
        )
        print(f"testee server on {port}, speedups={asyncwebsockets.SPEEDUPS}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    anyio.run(main, args.port, backend=args.backend)
