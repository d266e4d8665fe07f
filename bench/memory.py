"""Server memory: RSS per idle connection, and peak RSS while echoing 1 MiB messages.

Each library's echo server (from ``peers.py``) runs in its own process; one
client process (ours, on asyncio: the servers are all standard WebSocket
servers) opens the connections. Memory is read from /proc.

    python bench/memory.py                     # 1,000 idle connections
    python bench/memory.py --connections 200 --libs ours-asyncio,aiohttp
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from echo import DEFAULT_LIBS, start_server  # noqa: E402


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def client_main(args: argparse.Namespace) -> None:
    """Open connections, report, wait for a line on stdin, then (optionally) echo."""
    import anyio

    from asyncwebsockets import create_websocket

    raise_fd_limit()

    async def main() -> None:
        url = f"ws://127.0.0.1:{args.port}/"
        sockets = []
        for _ in range(args.connections):
            sockets.append(await create_websocket(url, ping_interval=None, max_message_size=8 << 20))
        print("open", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        if args.echo:
            ws = sockets[0]
            payload = os.urandom(1 << 20)

            async def send_all() -> None:
                for _ in range(8):
                    await ws.send(payload)

            for _ in range(args.echo):
                # Send while receiving: a peer that echoes as it reads
                # would otherwise deadlock with us once buffers fill.
                async with anyio.create_task_group() as tg:
                    tg.start_soon(send_all)
                    for _ in range(8):
                        await ws.receive()
        print("done", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

    anyio.run(main)


def measure(lib: str, connections: int, echo_rounds: int) -> dict[str, Any]:
    server, port = start_server(lib)
    try:
        time.sleep(0.5)
        base = rss_kib(server.pid)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        client = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client",
                "--port",
                str(port),
                "--connections",
                str(connections),
                "--echo",
                str(echo_rounds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert client.stdout is not None and client.stdin is not None
            assert client.stdout.readline().strip() == "open"
            time.sleep(1.0)
            idle = rss_kib(server.pid)
            client.stdin.write("\n")
            client.stdin.flush()
            assert client.stdout.readline().strip() == "done"
            peak = rss_kib(server.pid, "VmHWM")
            client.stdin.write("\n")
            client.stdin.flush()
            client.wait(30)
        finally:
            client.kill()
    finally:
        server.kill()
        server.wait()
    return {
        "base_rss_kib": base,
        "per_idle_connection_kib": (idle - base) / connections,
        "peak_rss_echoing_1mib_kib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--libs", default=",".join(DEFAULT_LIBS))
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--echo", type=int, default=5, help="rounds of 8 x 1 MiB echoed for the peak")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    raise_fd_limit()
    if "original-0.x" in args.libs.split(","):
        import peers

        peers.fetch_original()
    results: dict[str, dict[str, Any]] = {}
    for lib in args.libs.split(","):
        results[lib] = measure(lib, args.connections, args.echo)
        print(lib, results[lib], flush=True)
    lines = [
        f"### Server memory ({args.connections} idle connections; peak while echoing 1 MiB messages)",
        "",
        "| library | KiB per idle connection | peak RSS echoing 1 MiB (MiB) | target |",
        "|---|---|---|---|",
    ]
    for lib, value in results.items():
        target = ""
        if lib.startswith("ours"):
            target = "PASS" if value["per_idle_connection_kib"] <= 20 else "MISS"
            target += " (<= 20 KiB)"
        idle, peak = value["per_idle_connection_kib"], value["peak_rss_echoing_1mib_kib"] / 1024
        lines.append(f"| {lib} | {idle:.1f} | {peak:.1f} | {target} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        goals = [
            {
                "target": f"{lib}: KiB per idle connection <= 20",
                "measured": value["per_idle_connection_kib"],
                "required": 20.0,
                "at_most": True,
            }
            for lib, value in results.items()
            if lib.startswith("ours")
        ]
        Path(args.json).write_text(json.dumps({"results": results, "targets": goals}, indent=2))


if __name__ == "__main__":
    main()
