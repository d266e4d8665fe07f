"""How-to: connect through an HTTP or SOCKS proxy.

So that it runs anywhere, the example starts a proxy of its own with
pproxy (pip install pproxy), asking for the credentials ann:s3cret; in
real life the proxy is given to you, often in HTTPS_PROXY / HTTP_PROXY.
SOCKS needs pip install 'asyncwebsockets[socks]'.
"""

import socket
import subprocess
import sys
from functools import partial

import anyio

from asyncwebsockets import ProxyError, create_websocket, open_websocket, serve

PPROXY = """
import asyncio, sys
sys.modules["uvloop"] = None
asyncio.set_event_loop(asyncio.new_event_loop())
from pproxy.server import main
main(sys.argv[1:])
"""


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def start_proxy():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", PPROXY, "-l", f"http+socks5://127.0.0.1:{port}#ann:s3cret", "--auth", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    while True:
        try:
            await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
            return process, port
        except OSError:
            await anyio.sleep(0.05)


async def main():
    process, port = await start_proxy()
    try:
        async with anyio.create_task_group() as tg:
            server = await tg.start(partial(serve, echo, "127.0.0.1", 0))
            url = f"ws://127.0.0.1:{server.port}/"

            # Without credentials, the proxy refuses with 407.
            try:
                await create_websocket(url, proxy=f"http://127.0.0.1:{port}")
            except ProxyError as exc:
                print("without credentials:", exc.status_code)

            # The proxy URL carries them, for HTTP and SOCKS5 alike.
            for proxy in [f"http://ann:s3cret@127.0.0.1:{port}", f"socks5://ann:s3cret@127.0.0.1:{port}"]:
                async with open_websocket(url, proxy=proxy) as ws:
                    await ws.send("hello")
                    print(f"through {proxy.split(':')[0]}:", (await ws.receive()).data)

            tg.cancel_scope.cancel()
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    anyio.run(main)
