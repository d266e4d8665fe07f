"""Both codecs used from several threads at once give the results of one.

The compiled modules declare that they need no GIL (free-threaded CPython
runs them with none); docs/topics/design.rst ("Threads") gives the reasons.
Here several threads run masking, UTF-8 validation and frame round trips
at the same time, on shared input and on objects of their own, and every
result is checked against a single-threaded reference.  With a GIL the
switch interval is made tiny so the threads interleave as often as they
can; on a free-threaded interpreter they run truly in parallel.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from asyncwebsockets import _speedups

THREADS = 8
ROUNDS = 12
KEY = b"\x37\xfa\x21\x3d"
# Sizes on both sides of the compiled codec's thresholds: 16 (SIMD), 1024
# (pure twin's translate path), 16384 (payload read straight into place)
# and 65536 (masking without the GIL).
SIZES = [0, 1, 15, 16, 125, 126, 1023, 1024, 16383, 16385, 65535, 70000]


@pytest.fixture(autouse=True)
def busy_switching() -> Iterator[None]:
    """With a GIL, hand it over as often as the interpreter allows."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def run_in_threads(work: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """Run ``work(index)`` in ``count`` threads released together; return results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def payloads(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for size in SIZES]


def test_shared_input_masked_concurrently(codec: SimpleNamespace) -> None:
    data = payloads(1)
    # The reference is always the pure twin, run in this thread.
    expected = [[_speedups.PURE["mask"].apply_mask(d, KEY, offset) for offset in range(4)] for d in data]

    def work(index: int) -> int:
        checked = 0
        for round_ in range(ROUNDS):
            for d, want in zip(data, expected, strict=True):
                offset = (index + round_) & 3
                assert codec.mask.apply_mask(d, KEY, offset) == want[offset]
                # In place on a private copy, and through a shared read-only view.
                own = bytearray(d)
                codec.mask.apply_mask_inplace(own, KEY, offset)
                assert own == want[offset]
                assert codec.mask.apply_mask(memoryview(d), KEY, offset) == want[offset]
                checked += 1
        return checked

    assert run_in_threads(work) == [ROUNDS * len(data)] * THREADS


def test_utf8_validation_concurrently(codec: SimpleNamespace) -> None:
    rng = random.Random(2)
    text = "".join(chr(rng.choice([0x41, 0xE9, 0x20AC, 0x1F600, 0x10FFFF])) for _ in range(40000)).encode()
    samples = [
        text,
        text[:-1],  # ends inside a code point
        text[:1000] + b"\xed\xa0\x80" + text[1000:],  # an encoded surrogate
        b"\xc0\xaf",  # overlong
        b"plain ascii " * 1000,
        b"",
    ]
    expected = [_speedups.PURE["utf8"].is_utf8(s) for s in samples]
    assert expected == [True, False, False, False, True, True]

    def work(index: int) -> int:
        validator = codec.utf8.Utf8Validator()
        piece = 7 + index * 13
        for _ in range(ROUNDS):
            for sample, want in zip(samples, expected, strict=True):
                assert codec.utf8.is_utf8(sample) is want
                validator.reset()
                ok = True
                for start in range(0, len(sample), piece):
                    ok = validator.feed(sample[start : start + piece])
                ok = validator.feed(b"", final=True)
                assert ok is want
        return index

    assert run_in_threads(work) == list(range(THREADS))


def conversation(seed: int) -> list[tuple[str, Any]]:
    """What one thread sends: messages whole and fragmented, a ping, a close."""
    rng = random.Random(seed)
    steps: list[tuple[str, Any]] = []
    for size in SIZES:
        if rng.random() < 0.5:
            steps.append(("text", "".join(rng.choice("aé€😀") for _ in range(size // 3))))
        else:
            steps.append(("bytes", rng.randbytes(size)))
    steps.append(("fragments", [rng.randbytes(n) for n in (3, 0, 20000, 70000, 1)]))
    steps.append(("ping", b"are you there"))
    steps.append(("close", (4000 + seed, f"done {seed}")))
    return steps


def encode(writer: Any, steps: list[tuple[str, Any]]) -> bytes:
    wire = bytearray()
    for kind, value in steps:
        if kind == "text":
            wire += writer.frame(0x1, value.encode("utf-8"))
        elif kind == "bytes":
            wire += writer.frame(0x2, value)
        elif kind == "fragments":
            for i, part in enumerate(value):
                wire += writer.frame(0x2 if i == 0 else 0x0, part, fin=i == len(value) - 1)
        elif kind == "ping":
            wire += writer.frame(0x9, value)
        else:
            wire += writer.close(*value)
    return bytes(wire)


def expected_events(steps: list[tuple[str, Any]]) -> list[Any]:
    events: list[Any] = []
    for kind, value in steps:
        if kind == "text":
            events.append(TextMessage(data=value))
        elif kind == "bytes":
            events.append(BytesMessage(data=value))
        elif kind == "fragments":
            events.append(BytesMessage(data=b"".join(value)))
        elif kind == "ping":
            events.append(Ping(payload=value))
        else:
            events.append(CloseConnection(code=value[0], reason=value[1]))
    return events


@pytest.mark.parametrize("masked", [True, False], ids=["client-to-server", "server-to-client"])
def test_frame_round_trips_concurrently(codec: SimpleNamespace, masked: bool) -> None:
    def work(index: int) -> int:
        for round_ in range(3):
            steps = conversation(index * 100 + round_)
            writer = codec.frame_writer.FrameWriter(mask=masked)
            wire = encode(writer, steps)
            reader = codec.frames.FrameReader(expect_masked=masked, max_message_size=None)
            rng = random.Random(index)
            events: list[Any] = []
            pos = 0
            while pos < len(wire):
                step = rng.choice([1, 2, 5, 100, 4096, 30000, 100000])
                events += reader.feed(wire[pos : pos + step])
                pos += step
            assert events == expected_events(steps)
            assert reader.finished
        return index

    assert run_in_threads(work) == list(range(THREADS))


def test_masking_keys_differ_across_threads(codec: SimpleNamespace) -> None:
    """Each writer draws its own keys, and no two threads get the same ones."""

    def work(index: int) -> list[bytes]:
        writer = codec.frame_writer.FrameWriter(mask=True)
        # An empty payload: the frame is the 2 header bytes and the key.
        return [writer.frame(0x2, b"")[2:6] for _ in range(2000)]

    keys = [key for keys in run_in_threads(work) for key in keys]
    # 16000 random 32-bit keys repeat 0.03 times on average (three repeats:
    # about one run in 200000); a shared or reused key pool gives thousands.
    assert len(set(keys)) >= len(keys) - 2


@pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="needs a free-threaded CPython")
def test_compiled_modules_keep_the_gil_off() -> None:
    """Importing a module not declared free-threading safe turns the GIL back on."""
    if _speedups.COMPILED is None:
        pytest.skip("compiled codec not built")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    code = "import sys; from asyncwebsockets import _frame_writer, _frames, _mask, _utf8; print(sys._is_gil_enabled())"
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
