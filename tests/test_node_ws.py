"""Against Node.js's ``ws`` library, both directions.

Needs ``node`` and ``npm install`` in tests/node (``.ci/run`` does it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from asyncwebsockets import Websocket, open_websocket, serve

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        NODE is None or not (NODE_DIR / "node_modules" / "ws").exists(),
        reason="needs node and the ws package: (cd tests/node && npm install)",
    ),
]


async def test_node_client_our_server(codec: SimpleNamespace) -> None:
    closes: list[Any] = []

    async def echo(ws: Websocket) -> None:
        async for message in ws:
            await ws.send(message.data)
        closes.append((ws.close_code, ws.close_reason, ws.subprotocol))

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve(
                echo, "127.0.0.1", 0, subprotocols=["chat.v1"], max_message_size=4 << 20, task_status=task_status
            )
        )
        with anyio.fail_after(30):
            result = await anyio.run_process([str(NODE), str(NODE_DIR / "client.js"), f"ws://127.0.0.1:{server.port}/"])
            while not closes:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    report = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert report == {
        "protocol": "chat.v1",
        "text": "héllo from node ✓",
        "textIsBinary": False,
        "binaryOk": True,
        "pong": "are you there",
        "closeCode": 4002,
    }
    assert closes == [(4002, "node is done", "chat.v1")]


async def test_our_client_node_server(codec: SimpleNamespace) -> None:
    async with await anyio.open_process([str(NODE), str(NODE_DIR / "server.js")]) as process:
        try:
            assert process.stdout is not None
            lines = process.stdout
            buffer = b""

            async def next_line() -> Any:
                nonlocal buffer
                while b"\n" not in buffer:
                    buffer += await lines.receive()
                line, _, buffer = buffer.partition(b"\n")
                return json.loads(line)

            with anyio.fail_after(30):
                port = (await next_line())["port"]
                payload = bytes((i * 7) & 255 for i in range(3 << 20))
                async with open_websocket(
                    f"ws://127.0.0.1:{port}/", subprotocols=["chat.v2"], max_message_size=4 << 20
                ) as ws:
                    assert ws.subprotocol == "chat.v2"
                    await ws.send("ünïcødé ✓")
                    assert (await ws.receive()).data == "ünïcødé ✓"
                    await ws.send(payload)
                    assert (await ws.receive()).data == payload
                    await ws.send("frag", final=False)
                    await ws.send("mented")
                    assert (await ws.receive()).data == "fragmented"
                    assert await ws.ping() >= 0
                    await ws.close(4003, "python is done")
                assert ws.close_code == 4003
                assert await next_line() == {"closeCode": 4003, "reason": "python is done"}
        finally:
            process.kill()
