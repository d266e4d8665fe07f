"""Sans-I/O micro-benchmarks: masking, frame parsing and serializing, side by side.

Every library gets the same input bytes in the same run; libraries are
interleaved and each measurement is repeated, and the table shows medians
and ratios against the targets.

    python bench/codec.py            # about a minute
    python bench/codec.py --quick    # about 15 seconds
    python bench/codec.py --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asyncwebsockets import _speedups  # noqa: E402

Result = dict[str, dict[str, float | None]]

# -- timing -------------------------------------------------------------------


def measure(fn: Callable[[], int], budget: float) -> float:
    """Units of work per second: fn() does some work and returns how much."""
    fn()  # warm-up
    done = 0
    start = time.perf_counter()
    deadline = start + budget
    while True:
        done += fn()
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def median_rates(cases: dict[str, Callable[[], int]], rounds: int, budget: float) -> dict[str, float]:
    """Interleave the libraries, ``rounds`` times; the median rate of each."""
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            rates[name].append(measure(fn, budget))
    return {name: statistics.median(values) for name, values in rates.items()}


# -- masking ----------------------------------------------------------------

AVX2_C = r"""
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
void mask_avx2(unsigned char *buf, size_t n, const unsigned char *key) {
    int32_t k32; memcpy(&k32, key, 4);
    __m256i k = _mm256_set1_epi32(k32);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(buf + i));
        _mm256_storeu_si256((__m256i *)(buf + i), _mm256_xor_si256(v, k));
    }
    for (; i < n; i++) buf[i] ^= key[i & 3];
}
"""


def avx2_reference() -> Callable[[bytearray, bytes], Callable[[], None]] | None:
    """A plain AVX2 loop compiled here with -mavx2: the yardstick for in-place masking."""
    if os.environ.get("CC", "gcc") == "false":
        return None
    tmp = Path(tempfile.mkdtemp(prefix="aws-bench-"))
    (tmp / "ref.c").write_text(AVX2_C)
    try:
        subprocess.run(
            ["gcc", "-O3", "-mavx2", "-shared", "-fPIC", "-o", str(tmp / "ref.so"), str(tmp / "ref.c")],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    lib = ctypes.CDLL(str(tmp / "ref.so"))
    lib.mask_avx2.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]

    def bind(buf: bytearray, key: bytes) -> Callable[[], None]:
        address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        size = len(buf)
        fn = lib.mask_avx2
        return lambda: fn(address, size, key)

    return bind


def bench_mask(sizes: list[int], rounds: int, budget: float) -> Result:
    key = os.urandom(4)
    ours_c = _speedups.COMPILED["mask"] if _speedups.COMPILED else None
    ours_py = _speedups.PURE["mask"]
    try:
        from websockets.speedups import apply_mask as websockets_mask
    except ImportError:
        websockets_mask = None
    avx2 = avx2_reference()
    results: Result = {}
    for size in sizes:
        data = os.urandom(size)
        inplace = bytearray(data)
        copy_target = bytearray(size)
        reps = max(1, (1 << 20) // max(size, 1))

        def loop(fn: Callable[[], Any]) -> Callable[[], int]:
            def run() -> int:
                for _ in range(reps):
                    fn()
                return reps * size

            return run

        target_address = ctypes.addressof(ctypes.c_char.from_buffer(copy_target))
        memmove = ctypes.memmove
        cases: dict[str, Callable[[], int]] = {
            # memcpy into a preallocated buffer: the physical reference (its
            # ctypes call costs ~0.2 us, which dominates below 1 KiB).
            "memcpy": loop(lambda: memmove(target_address, data, size)),
            "ours py": loop(lambda: ours_py.apply_mask(data, key)),
        }
        if ours_c is not None:
            cases["ours copy"] = loop(lambda: ours_c.apply_mask(data, key))
            cases["ours in-place"] = loop(lambda: ours_c.apply_mask_inplace(inplace, key))
        if websockets_mask is not None:
            cases["websockets"] = loop(lambda: websockets_mask(data, key))
        if avx2 is not None:
            cases["avx2 C loop"] = loop(avx2(inplace, key))
        if size > (4 << 20):
            cases.pop("ours py")  # seconds per call; says nothing new
        rates = median_rates(cases, rounds, budget)
        results[f"{size} B"] = {name: rate / 1e9 for name, rate in rates.items()}
    return results


# -- parsing ------------------------------------------------------------------


def make_frames(size: int, count: int, fragments: int = 1) -> list[bytes]:
    """Client frames (masked, as a server receives them) in 64 KiB socket reads."""
    writer = _speedups.PURE["frames"].FrameWriter(mask=True)
    payload = os.urandom(size) if size > 16 else b"sixteen bytes!!!"[:size]
    frames: list[bytes] = []
    for _ in range(count):
        if fragments == 1:
            frames.append(writer.frame(2 if size > 16 else 1, payload))
        else:
            piece = payload[: max(1, size // fragments)]
            frames.append(writer.frame(2, piece, fin=False))
            frames.extend(writer.frame(0, piece, fin=False) for _ in range(fragments - 2))
            frames.append(writer.frame(0, piece, fin=True))
    data = b"".join(frames)
    chunk = max(65536, size + 16)
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def parse_cases(chunks: list[bytes], messages: int) -> dict[str, Callable[[], int]]:
    cases: dict[str, Callable[[], int]] = {}

    def ours(modules: dict[str, Any]) -> Callable[[], int]:
        reader_cls = modules["frames"].FrameReader

        def run() -> int:
            reader = reader_cls(expect_masked=True, max_message_size=None)
            n = 0
            for chunk in chunks:
                n += len(reader.feed(chunk))
            assert n == messages, n
            return n

        return run

    if _speedups.COMPILED:
        cases["ours"] = ours(_speedups.COMPILED)
    cases["ours py"] = ours(_speedups.PURE)

    try:
        from wsproto import Connection, ConnectionType

        def wsproto_run() -> int:
            conn = Connection(ConnectionType.SERVER)
            n = 0
            for chunk in chunks:
                conn.receive_data(chunk)
                for event in conn.events():
                    if event.message_finished:
                        n += 1
            assert n == messages, n
            return n

        cases["wsproto"] = wsproto_run
    except ImportError:
        pass

    try:
        from websockets.frames import Frame
        from websockets.protocol import Protocol, Side, State

        def websockets_run() -> int:
            proto = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
            n = 0
            for chunk in chunks:
                proto.receive_data(chunk)
                for frame in proto.events_received():
                    if frame.fin:
                        n += 1
            assert n == messages, n
            return n

        cases["websockets"] = websockets_run
        del Frame
    except ImportError:
        pass

    try:
        from aiohttp._websocket import reader as aiohttp_reader
        from aiohttp._websocket.reader_c import WebSocketReader  # the compiled one

        assert aiohttp_reader.WebSocketReader is WebSocketReader

        class _Protocol:
            def pause_reading(self) -> None:
                pass

            def resume_reading(self) -> None:
                pass

        loop = asyncio.new_event_loop()

        def aiohttp_run() -> int:
            queue = aiohttp_reader.WebSocketDataQueue(_Protocol(), 1 << 30, loop=loop)  # type: ignore[arg-type]
            reader = WebSocketReader(queue, 1 << 30, False, True)
            n = 0
            for chunk in chunks:
                reader.feed_data(chunk)
                n += len(queue._buffer)
                queue._buffer.clear()
            assert n == messages, n
            return n

        cases["aiohttp (C)"] = aiohttp_run
    except (ImportError, AssertionError):
        pass
    return cases


def bench_parse(quick: bool, rounds: int, budget: float) -> Result:
    specs: list[tuple[str, int, int, int]] = [
        ("16 B text", 16, 4000, 1),
        ("256 B binary", 256, 2000, 1),
        ("64 KiB binary", 65536, 64, 1),
        ("100-fragment message", 6400, 100, 100),
    ]
    results: Result = {}
    for label, size, count, fragments in specs:
        chunks = make_frames(size, count, fragments)
        results[label] = dict(median_rates(parse_cases(chunks, count), rounds, budget))
    return results


def bench_serialize(rounds: int, budget: float) -> Result:
    results: Result = {}
    for label, size in [("16 B", 16), ("256 B", 256), ("64 KiB", 65536)]:
        payload = os.urandom(size)
        reps = 200 if size < 1000 else 20
        cases: dict[str, Callable[[], int]] = {}

        def ours(modules: dict[str, Any]) -> Callable[[], int]:
            writer = modules["frames"].FrameWriter(mask=True)

            def run() -> int:
                for _ in range(reps):
                    writer.frame(2, payload)
                return reps

            return run

        if _speedups.COMPILED:
            cases["ours"] = ours(_speedups.COMPILED)
        cases["ours py"] = ours(_speedups.PURE)
        try:
            from websockets.frames import Frame, Opcode

            def websockets_run() -> int:
                for _ in range(reps):
                    Frame(Opcode.BINARY, payload).serialize(mask=True)
                return reps

            cases["websockets"] = websockets_run
        except ImportError:
            pass
        try:
            from wsproto.frame_protocol import FrameProtocol

            proto = FrameProtocol(client=True, extensions=[])

            def wsproto_run() -> int:
                for _ in range(reps):
                    proto.send_data(payload)
                return reps

            cases["wsproto"] = wsproto_run
        except ImportError:
            pass
        results[label] = dict(median_rates(cases, rounds, budget))
    return results


# -- report -------------------------------------------------------------------


def ratio(results: Result, row: str, a: str, b: str) -> float | None:
    values = results.get(row, {})
    if values.get(a) is None or not values.get(b):
        return None
    return values[a] / values[b]  # type: ignore[operator]


def targets(mask: Result, parse: Result) -> list[tuple[str, float | None, float]]:
    """(description, measured ratio, required ratio) for each target."""
    out: list[tuple[str, float | None, float]] = []
    for row in ("16 B text", "256 B binary"):
        out.append((f"parse {row}: compiled / wsproto", ratio(parse, row, "ours", "wsproto"), 10.0))
        out.append((f"parse {row}: compiled / websockets", ratio(parse, row, "ours", "websockets"), 3.0))
        out.append((f"parse {row}: compiled / aiohttp (C)", ratio(parse, row, "ours", "aiohttp (C)"), 0.5))
        out.append((f"parse {row}: python / wsproto", ratio(parse, row, "ours py", "wsproto"), 2.0))
    out.append(("parse 64 KiB: compiled / websockets", ratio(parse, "64 KiB binary", "ours", "websockets"), 1.0))
    for row in parse:
        out.append((f"parse {row}: python / wsproto (never slower)", ratio(parse, row, "ours py", "wsproto"), 1.0))
    for row in mask:
        size = int(row.split()[0])
        out.append((f"mask {row}: compiled / websockets", ratio(mask, row, "ours copy", "websockets"), 1.0))
        if size >= 16384:
            out.append((f"mask {row}: compiled copy / memcpy", ratio(mask, row, "ours copy", "memcpy"), 1.0))
            out.append(
                (f"mask {row}: in-place / AVX2 C loop", ratio(mask, row, "ours in-place", "avx2 C loop"), 1 / 1.2)
            )
    return out


def table(title: str, results: Result, unit: str) -> str:
    columns: list[str] = []
    for values in results.values():
        for name in values:
            if name not in columns:
                columns.append(name)
    lines = [f"### {title} ({unit})", "", "| case | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, values in results.items():
        cells = [f"{values[c]:,.2f}" if values.get(c) is not None else "n/a" for c in columns]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run (~15 s)")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the tables as Markdown here")
    args = parser.parse_args()
    rounds, budget = (1, 0.2) if args.quick else (5, 0.3)
    kernel = _speedups.COMPILED["mask"].kernel_name() if _speedups.COMPILED else "python"
    print(f"compiled codec: {_speedups.SPEEDUPS} (mask kernel: {kernel}); python {sys.version.split()[0]}")
    sizes = [6, 125, 1024, 16384, 65536, 1 << 20, 16 << 20]
    mask = bench_mask(sizes, rounds, budget)
    parse = bench_parse(args.quick, rounds, budget)
    serialize = bench_serialize(rounds, budget)
    scaled_parse = {
        row: {k: (v / 1e3 if v is not None else None) for k, v in values.items()} for row, values in parse.items()
    }
    scaled_serialize = {
        row: {k: (v / 1e3 if v is not None else None) for k, v in values.items()} for row, values in serialize.items()
    }
    out = [
        table("Masking", mask, "GB/s"),
        table("Parsing client frames into events", scaled_parse, "thousand messages/s"),
        table("Serializing masked frames", scaled_serialize, "thousand frames/s"),
        "### Targets",
        "",
        "| target | measured | required | |",
        "|---|---|---|---|",
    ]
    for description, measured, required in targets(mask, parse):
        if measured is None:
            out.append(f"| {description} | n/a | >= {required:.2f}x | n/a |")
        else:
            verdict = "PASS" if measured >= required else "MISS"
            out.append(f"| {description} | {measured:.2f}x | >= {required:.2f}x | {verdict} |")
    text = "\n\n".join(out[:3]) + "\n\n" + "\n".join(out[3:]) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        goals = [{"target": d, "measured": m, "required": r} for d, m, r in targets(mask, parse)]
        Path(args.json).write_text(
            json.dumps(
                {"mask_GBps": mask, "parse_msgs_per_s": parse, "serialize_per_s": serialize, "targets": goals}, indent=2
            )
        )


if __name__ == "__main__":
    main()
