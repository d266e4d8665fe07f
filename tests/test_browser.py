"""A real browser's WebSocket against our server: headless Chromium.

The page's script exchanges text (with non-ASCII), a 1 MiB binary message
and a ping-free round of JSON with our server, then closes with its own
code and reason; the server side of the test checks everything it saw.
Needs Debian's Chromium (``bash .ci/install-browser.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List

import anyio
import pytest
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import Websocket, serve

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (bash .ci/install-browser.sh)"),
]

PAGE = """<!doctype html><meta charset="utf-8"><script>
const ws = new WebSocket("ws://127.0.0.1:PORT/browser?from=chromium", ["chat.v1"]);
ws.binaryType = "arraybuffer";
const report = {protocol: null, text: null, binaryOk: false};
let stage = 0;
const big = new Uint8Array(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
ws.onopen = () => { report.protocol = ws.protocol; ws.send("héllo from the browser ✓"); };
ws.onmessage = (event) => {
  if (stage === 0) {
    report.text = event.data;
    stage = 1;
    ws.send(big);
  } else if (stage === 1) {
    const got = new Uint8Array(event.data);
    let ok = got.length === big.length;
    for (let i = 0; ok && i < got.length; i++) ok = got[i] === big[i];
    report.binaryOk = ok;
    stage = 2;
    ws.send(JSON.stringify(report));
  } else {
    ws.close(4001, "browser done ✓");
  }
};
</script>"""


async def test_chromium_talks_to_our_server(codec: Any) -> None:
    seen: List[Any] = []
    outcome: Dict[str, Any] = {}
    finished = anyio.Event()

    async def handler(ws: Websocket) -> None:
        outcome["target"] = ws.request.target if ws.request else None
        outcome["subprotocol"] = ws.subprotocol
        async for message in ws:
            seen.append(message)
            if isinstance(message, TextMessage) and message.data.startswith("{"):
                await ws.send("report received")
            else:
                await ws.send(message.data)
        outcome["close"] = (ws.close_code, ws.close_reason)
        finished.set()

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            lambda task_status: serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1"], max_message_size=2 << 20, task_status=task_status)
        )
        # The page comes over plain HTTP (a data: URL gets no network).
        html = PAGE.replace("PORT", str(server.port)).encode("utf-8")
        http = await anyio.create_tcp_listener(local_host="127.0.0.1")

        async def serve_page(stream: Any) -> None:
            async with stream:
                request = b""
                while b"\r\n\r\n" not in request:
                    try:
                        request += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return  # the browser's spare preconnection, never used
                if request.startswith(b"GET /page "):
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    await stream.send(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(html) + html)
                else:
                    await stream.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        tg.start_soon(http.serve, serve_page)
        page = f"http://127.0.0.1:{http.extra(anyio.abc.SocketAttribute.local_port)}/page"
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        browser = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                page,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with anyio.fail_after(60):
                await finished.wait()
        finally:
            browser.kill()
            browser.wait(10)
            shutil.rmtree(profile, ignore_errors=True)
        tg.cancel_scope.cancel()

    assert outcome["target"] == "/browser?from=chromium"
    assert outcome["subprotocol"] == "chat.v1"
    assert seen[0] == TextMessage("héllo from the browser ✓")
    assert isinstance(seen[1], BytesMessage) and len(seen[1].data) == 1 << 20
    assert seen[1].data == bytes((i * 7) & 255 for i in range(1 << 20))
    report = json.loads(seen[2].data)
    assert report == {"protocol": "chat.v1", "text": "héllo from the browser ✓", "binaryOk": True}
    assert outcome["close"] == (4001, "browser done ✓")
