"""Our client, as the Autobahn fuzzing server's testee: runs every case, echoing.

    python compliance/testee_client.py --backend trio --url ws://127.0.0.1:9001

Set ASYNCWEBSOCKETS_NO_EXTENSIONS=1 to test the pure-Python codec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio  # noqa: E402

from asyncwebsockets import open_websocket  # noqa: E402

MAX_MESSAGE = 32 << 20


async def run_case(url: str) -> None:
    try:
        # Sections 12 and 13 test permessage-deflate; the others ignore the offer.
        async with open_websocket(url, max_message_size=MAX_MESSAGE, ping_interval=None, compression="deflate") as ws:
            async for message in ws:
                await ws.send(message.data)
    except ConnectionError:
        pass  # the case failed the connection on purpose; the report says if we did right


async def main(base: str, agent: str) -> None:
    async with open_websocket(f"{base}/getCaseCount") as ws:
        count = int((await ws.receive()).data)
    print(f"{count} cases", flush=True)
    for case in range(1, count + 1):
        await run_case(f"{base}/runCase?case={case}&agent={agent}")
    async with open_websocket(f"{base}/updateReports?agent={agent}") as ws:
        async for _ in ws:
            pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--url", default="ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="asyncwebsockets")
    args = parser.parse_args()
    anyio.run(main, args.url, args.agent, backend=args.backend)
