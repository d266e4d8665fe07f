"""A real browser's WebSocket against our server: headless Chromium.

The page (``tests/browser/page.html`` and ``test.js``, served over plain
HTTP by a few lines of anyio below) talks to our server: text with
characters outside the BMP, a 1 MiB binary message and empty messages,
echoed; fragmented and large messages made by the server; a ping from the
server, which the browser answers; a second connection that the server
closes with its own code.  Then the page sends a JSON report of what it
saw over the WebSocket itself and closes with its own code and reason,
which the server side checks.  Failures in the page come to ``/error``.

Needs Debian's Chromium (``bash .ci/install-browser.sh``); skipped without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.abc
import pytest
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import Websocket, serve

CHROMIUM = os.environ.get("ASYNCWEBSOCKETS_CHROMIUM", "/usr/bin/chromium")
ASSETS = Path(__file__).parent / "browser"
MIB = 1 << 20
TIMEOUT = 25.0

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


def pattern(length: int, seed: int) -> bytes:
    """The page's pattern(): byte i is (7 i + seed) mod 256."""
    block = bytes((i * 7 + seed) & 255 for i in range(256))
    return (block * (length // 256 + 1))[:length]


async def serve_assets(stream: anyio.abc.ByteStream) -> None:
    """A minimal HTTP/1.1 responder for the page's files; one request per connection."""
    async with stream:
        request = b""
        with anyio.move_on_after(10):
            while b"\r\n\r\n" not in request:
                try:
                    request += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return  # a speculative connection the browser never used
        parts = request.split(b" ", 2)
        path = parts[1].split(b"?")[0].decode() if len(parts) > 2 else ""
        types = {"/page.html": "text/html", "/test.js": "text/javascript"}
        if parts[0] == b"GET" and path in types:
            body = (ASSETS / path.lstrip("/")).read_bytes()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {types[path]}; charset=utf-8\r\nCache-Control: no-store\r\n"
        else:
            body = b"not found"
            head = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        try:
            await stream.send(head.encode() + body)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


def browser_command(profile: Path, url: str) -> list[str]:
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        url,
    ]


async def test_chromium_talks_to_our_server(codec: SimpleNamespace, tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no browser at {CHROMIUM}: install it with `bash .ci/install-browser.sh`")

    seen: list[Any] = []
    outcome: dict[str, Any] = {}
    finished = anyio.Event()

    async def main(ws: Websocket) -> None:
        assert ws.request is not None
        outcome["target"] = ws.request.target
        outcome["subprotocol"] = ws.subprotocol
        outcome["headers"] = {name.lower(): value for name, value in ws.request_headers}
        async for message in ws:
            seen.append(message)
            if message == TextMessage("send yours"):
                await ws.send("fragmented", final=False)
                await ws.send(" ✓ ", final=False)
                await ws.send("𝄞")
                for piece in (b"\x01", b"", b"\x02\x03", b"\x04"):
                    await ws.send(piece, final=piece == b"\x04")
                await ws.send(pattern(MIB, 5))
                await ws.send("é𝄞中" * 100_000)
            elif message == TextMessage("ping me"):
                latency = await ws.ping(b"from our server")
                await ws.send(f"pong after {latency:.6f} s")
            elif isinstance(message, TextMessage) and message.data.startswith("{"):
                outcome["report"] = json.loads(message.data)
                await ws.send("report received")
            else:
                await ws.send(message.data)
        outcome["close"] = (ws.close_code, ws.close_reason)
        finished.set()

    async def close_me(ws: Websocket) -> None:
        await ws.close(4002, "server says bye ✓")
        outcome["close-me"] = ws.close_code

    async def error(ws: Websocket) -> None:
        outcome["error"] = (await ws.receive()).data
        finished.set()

    async def handler(ws: Websocket) -> None:
        target = ws.request.target if ws.request else ""
        route = {"/close-me": close_me, "/error": error}.get(target, main)
        await route(ws)

    log_path = tmp_path / "chromium.log"

    def browser_log() -> str:
        try:
            return log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve(
                handler, "127.0.0.1", 0, subprotocols=["chat.v2"], max_message_size=2 * MIB, task_status=task_status
            )
        )
        http = await anyio.create_tcp_listener(local_host="127.0.0.1")
        tg.start_soon(http.serve, serve_assets)
        http_port = http.extra(anyio.abc.SocketAttribute.local_port)
        page = f"http://127.0.0.1:{http_port}/page.html?ws={server.port}"

        with open(log_path, "wb") as log:
            browser = subprocess.Popen(
                browser_command(tmp_path / "profile", page),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            with anyio.fail_after(TIMEOUT):
                while not finished.is_set():
                    if browser.poll() is not None:
                        pytest.fail(f"Chromium exited early with {browser.returncode}:\n{browser_log()}")
                    with anyio.move_on_after(0.1):
                        await finished.wait()
        except TimeoutError:
            pytest.fail(f"no result from the browser within {TIMEOUT} s; its log:\n{browser_log()}")
        finally:
            # The browser and its helper processes: the session it leads.
            try:
                os.killpg(browser.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                pass
            tg.cancel_scope.cancel()

    assert "error" not in outcome, f"the page failed: {outcome['error']}"
    assert outcome["target"] == "/main?from=chromium"
    assert outcome["subprotocol"] == "chat.v2"
    assert outcome["headers"][b"origin"] == f"http://127.0.0.1:{http_port}".encode()
    assert b"Chrome/" in outcome["headers"][b"user-agent"]

    assert seen[:4] == [
        TextMessage("héllo from the browser ✓ 𝄞 中文 😀"),
        BytesMessage(pattern(MIB, 3)),
        TextMessage(""),
        BytesMessage(b""),
    ]
    report = outcome["report"]
    assert report["protocol"] == "chat.v2"
    assert report["extensions"] == ""  # permessage-deflate offered, declined
    assert report["checks"] == {
        "text": True,
        "binary": True,
        "emptyText": True,
        "emptyBinary": True,
        "serverFragmentedText": True,
        "serverFragmentedBinary": True,
        "serverBig": True,
        "serverLongText": True,
    }
    assert report["serverPing"].startswith("pong after ")
    assert report["serverClose"] == {"code": 4002, "reason": "server says bye ✓", "wasClean": True}
    assert outcome["close-me"] == 4002
    assert outcome["close"] == (4001, "browser done ✓")
