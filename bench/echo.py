"""End-to-end echo benchmark: each library's client against its own server.

Server and client run in separate processes on 127.0.0.1, each pinned to
a CPU of its own where there are two (``ECHO_BENCH_NO_PIN=1``: not). Libraries are
interleaved case by case, in an order that rotates from round to round;
the table shows medians over rounds: messages
per second, round-trip p50/p99 (latency mode), and CPU microseconds per
message on each side.

    python bench/echo.py --quick          # ~2 minutes: 1 connection, 32 B/1 KiB/64 KiB
    python bench/echo.py                  # ~20 minutes: + 1 MiB, 50 connections, 3 rounds
    python bench/echo.py --rounds 1       # the same cases, one round: ~7 minutes
    python bench/echo.py --libs ours-asyncio,aiohttp --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

SIZES = {"32 B": 32, "1 KiB": 1024, "64 KiB": 65536, "1 MiB": 1 << 20}
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_LIBS = [
    "ours-asyncio",
    "ours-uvloop",
    "ours-trio",
    "ours-0.x-api",
    "ours-0.x-api-trio",
    "aiohttp",
    "picows",
    "websockets",
    "trio-websocket",
    "original-0.x",
]


#: The other asyncio libraries, for "the best asyncio peer" targets.
ASYNCIO_PEERS = ["aiohttp", "picows", "websockets"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _cpus() -> tuple[set[int] | None, set[int] | None]:
    """The CPU for the server and the one for the client (None: leave to the scheduler).

    Each side on a core of its own, as a server and its clients on
    separate machines would be: otherwise the scheduler moves them
    about and the figures swing with where it put them.
    """
    if os.environ.get("ECHO_BENCH_NO_PIN") or not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return {available[0]}, {available[1]}


SERVER_CPUS, CLIENT_CPUS = _cpus()


def _pinned(cpus: set[int] | None) -> Any:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_server(lib: str) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tempfile.mktemp(prefix="echo-port-")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", lib, "--port-file", port_file], env=env, preexec_fn=_pinned(SERVER_CPUS)
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{lib} server did not start")
        time.sleep(0.05)
    port = int(Path(port_file).read_text())
    os.unlink(port_file)
    return proc, port


def run_client(
    lib: str, port: int, size: int, mode: str, seconds: float, conns: int, server_pid: int
) -> dict[str, Any] | None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = cpu_seconds(server_pid)
    args = [sys.executable, __file__, "--client", lib, "--url", f"ws://127.0.0.1:{port}/", "--size", str(size)]
    args += ["--mode", mode, "--seconds", str(seconds), "--conns", str(conns)]
    try:
        out = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=seconds * 10 + 60, preexec_fn=_pinned(CLIENT_CPUS)
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        sys.stderr.write(f"{lib} client failed: {out.stderr[-2000:]}\n")
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = cpu_seconds(server_pid) - before
    return result


def client_main(args: argparse.Namespace) -> None:
    import peers

    cpu_start = time.process_time()
    result = peers.LIBRARIES[args.client]["client"](args.url, args.size, args.mode, args.seconds, args.conns)
    rtts = sorted(result.pop("rtts"))
    summary = {
        "messages": result["messages"],
        "elapsed": result["elapsed"],
        "client_cpu": time.process_time() - cpu_start,
        "p50": rtts[len(rtts) // 2] if rtts else None,
        "p99": rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] if rtts else None,
    }
    print(json.dumps(summary))


def bench(
    libs: list[str], cases: list[tuple[str, str, int]], rounds: int, seconds: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """results[case][lib] = medians over rounds."""
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for round_no in range(rounds):
        # Every library's server runs for the whole round, and each case
        # runs them one after the other, so that the figures a ratio
        # compares are taken seconds apart, not minutes: the machine's
        # speed drifts more than that over a run.  The order rotates from
        # round to round, so no library always runs first.
        shift = round_no % len(libs)
        order = libs[shift:] + libs[:shift]
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for lib in order:
                servers[lib] = start_server(lib)
            for size_label, mode, conns in cases:
                case = f"{mode}, {conns} conn, {size_label}"
                for lib in order:
                    proc, port = servers[lib]
                    result = run_client(lib, port, SIZES[size_label], mode, seconds, conns, proc.pid)
                    if result is not None:
                        raw.setdefault(case, {}).setdefault(lib, []).append(result)
                    print(
                        f"round {round_no + 1} {lib:15} {case:28} "
                        + (f"{result['messages'] / result['elapsed']:10,.0f} msgs/s" if result else "failed"),
                        flush=True,
                    )
        finally:
            for proc, _ in servers.values():
                proc.kill()
                proc.wait()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for case, by_lib in raw.items():
        for lib, runs in by_lib.items():

            def med(key: str) -> float | None:
                values = [r[key] for r in runs if r.get(key) is not None]
                return statistics.median(values) if values else None

            messages = [r["messages"] for r in runs]
            results.setdefault(case, {})[lib] = {
                "msgs_per_s": statistics.median([r["messages"] / r["elapsed"] for r in runs]),
                "p50_us": (med("p50") or 0) * 1e6 if med("p50") else None,
                "p99_us": (med("p99") or 0) * 1e6 if med("p99") else None,
                "client_cpu_us": statistics.median(
                    [r["client_cpu"] / max(m, 1) * 1e6 for r, m in zip(runs, messages, strict=True)]
                ),
                "server_cpu_us": statistics.median(
                    [r["server_cpu"] / max(m, 1) * 1e6 for r, m in zip(runs, messages, strict=True)]
                ),
            }
    return results


def targets(results: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, float | None, float]]:
    def rate(case: str, lib: str) -> float | None:
        value = results.get(case, {}).get(lib)
        return value["msgs_per_s"] if value else None

    def ratio(case: str, a: str, b: str) -> float | None:
        x, y = rate(case, a), rate(case, b)
        return x / y if x and y else None

    def best_asyncio_peer(case: str) -> str | None:
        rates = [(rate(case, lib), lib) for lib in ASYNCIO_PEERS if rate(case, lib)]
        return max(rates)[1] if rates else None

    out: list[tuple[str, float | None, float]] = []
    for case in results:
        if case.startswith("pipelined, 1 conn"):
            out.append((f"{case}: ours-asyncio / aiohttp", ratio(case, "ours-asyncio", "aiohttp"), 1.0))
            if case.endswith("32 B"):
                out.append((f"{case}: ours-asyncio / picows", ratio(case, "ours-asyncio", "picows"), 1.8))
        if case == "latency, 1 conn, 32 B":
            out.append((f"{case}: ours-asyncio / picows", ratio(case, "ours-asyncio", "picows"), 1.0))
        if case.startswith("latency, 50 conn") and not case.endswith("1 MiB"):
            out.append((f"{case}: ours-asyncio / picows", ratio(case, "ours-asyncio", "picows"), 1.0))
        if ", 50 conn, " in case and (case.endswith("64 KiB") or case.endswith("1 MiB")):
            best = best_asyncio_peer(case)
            if best is not None:
                out.append(
                    (f"{case}: ours-asyncio / {best} (best asyncio peer)", ratio(case, "ours-asyncio", best), 1.2)
                )
        out.append((f"{case}: ours-asyncio / websockets", ratio(case, "ours-asyncio", "websockets"), 2.0))
        out.append((f"{case}: ours-trio / trio-websocket", ratio(case, "ours-trio", "trio-websocket"), 3.0))
        for ours in ("ours-asyncio", "ours-trio"):
            out.append((f"{case}: {ours} / original-0.x", ratio(case, ours, "original-0.x"), 1.0))
        # Code written for the 0.x API (anyio accepts, we get the stream) as fast as serve().
        out.append((f"{case}: ours-0.x-api / ours-asyncio", ratio(case, "ours-0.x-api", "ours-asyncio"), 0.9))
        out.append((f"{case}: ours-0.x-api-trio / ours-trio", ratio(case, "ours-0.x-api-trio", "ours-trio"), 0.9))
        if case.startswith("latency"):
            ours = results[case].get("ours-asyncio", {}).get("p50_us")
            theirs = results[case].get("aiohttp", {}).get("p50_us")
            out.append((f"{case}: aiohttp p50 / ours-asyncio p50", theirs / ours if ours and theirs else None, 1.0))
    return out


def render(results: dict[str, dict[str, dict[str, Any]]], libs: list[str]) -> str:
    lines = ["### Echo throughput (messages/s; p50 round trip in µs for latency mode)", ""]
    lines.append("| case | " + " | ".join(libs) + " |")
    lines.append("|---" * (len(libs) + 1) + "|")
    for case, by_lib in results.items():
        cells = []
        for lib in libs:
            value = by_lib.get(lib)
            if value is None:
                cells.append("n/a")
            elif value["p50_us"] is not None:
                cells.append(f"{value['msgs_per_s']:,.0f} ({value['p50_us']:.0f} µs)")
            else:
                cells.append(f"{value['msgs_per_s']:,.0f}")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### CPU per message (µs, client / server)",
        "",
        "| case | " + " | ".join(libs) + " |",
        "|---" * (len(libs) + 1) + "|",
    ]
    for case, by_lib in results.items():
        cells = [
            f"{by_lib[lib]['client_cpu_us']:.1f} / {by_lib[lib]['server_cpu_us']:.1f}" if lib in by_lib else "n/a"
            for lib in libs
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "### Targets", "", "| target | measured | required | |", "|---|---|---|---|"]
    for description, measured, required in targets(results):
        if measured is None:
            lines.append(f"| {description} | n/a | >= {required:.1f}x | n/a |")
        else:
            verdict = "PASS" if measured >= required else "MISS"
            lines.append(f"| {description} | {measured:.2f}x | >= {required:.1f}x | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--libs", default=",".join(DEFAULT_LIBS))
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, help="rounds to take the median of (default: 3, or 1 with --quick)")
    parser.add_argument("--conns", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import resource

        import peers

        # Room for the memory benchmark's thousand connections.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

        peers.LIBRARIES[args.serve]["serve"](args.port_file)
        return
    if args.client:
        client_main(args)
        return
    libs = args.libs.split(",")
    if args.quick:
        cases = [(size, mode, 1) for mode in ("pipelined", "latency") for size in ("32 B", "1 KiB", "64 KiB")]
        rounds, seconds = 1, min(args.seconds, 1.0)
    else:
        cases = [(size, mode, conns) for conns in (1, 50) for mode in ("pipelined", "latency") for size in SIZES]
        rounds, seconds = 3, args.seconds
    if args.rounds:
        rounds = args.rounds
    import asyncwebsockets

    print(f"asyncwebsockets compiled speedups: {asyncwebsockets.SPEEDUPS}", flush=True)
    if "original-0.x" in libs:
        import peers

        peers.fetch_original()
    results = bench(libs, cases, rounds, seconds)
    text = render(results, libs)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        goals = [{"target": d, "measured": m, "required": r} for d, m, r in targets(results)]
        Path(args.json).write_text(json.dumps({"results": results, "targets": goals}, indent=2))


if __name__ == "__main__":
    main()
