"""Coverage-guided fuzzing of the frame reader with atheris.

    python fuzz/fuzz_frames.py -runs=200000          # a bounded run
    python fuzz/fuzz_frames.py -max_total_time=3600  # an hour
    ASYNCWEBSOCKETS_NO_EXTENSIONS=1 python fuzz/fuzz_frames.py ...

Each input is split into chunks at positions taken from the input itself
and fed to both codec implementations. Anything but our ProtocolError is a
crash; so is any difference between the compiled and Python readers, and
any buffered byte count beyond the configured limit.  Some inputs are read
with permessage-deflate on, so that compressed frames (RSV1) are inflated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from asyncwebsockets import _speedups
    from asyncwebsockets.deflate import MessageInflater
    from asyncwebsockets.exceptions import ProtocolError

IMPLEMENTATIONS = [m for m in (_speedups.COMPILED, _speedups.PURE) if m is not None]
LIMIT = 4096


def run(modules: Any, data: bytes, cuts: list[int], masked: bool, reassemble: bool, inflate: bool) -> tuple[Any, ...]:
    inflater = MessageInflater() if inflate else None
    reader = modules["frames"].FrameReader(
        expect_masked=masked, max_message_size=LIMIT, reassemble=reassemble, inflater=inflater
    )
    events: list[Any] = []
    error = None
    pos = 0
    try:
        for cut in cuts + [len(data)]:
            events += reader.feed(data[pos:cut])
            pos = max(pos, cut)
            assert reader.buffered <= LIMIT + len(data), reader.buffered
    except ProtocolError as exc:
        events += exc.events
        error = (exc.code, exc.reason)
        assert exc.code in (1002, 1007, 1009)
    return events, error, reader.finished


def test_one_input(raw: bytes) -> None:
    provider = atheris.FuzzedDataProvider(raw)
    masked = provider.ConsumeBool()
    reassemble = provider.ConsumeBool()
    inflate = provider.ConsumeBool()
    cuts = sorted(provider.ConsumeIntInRange(0, 256) for _ in range(provider.ConsumeIntInRange(0, 8)))
    data = provider.ConsumeBytes(provider.remaining_bytes())
    results = [run(modules, data, cuts, masked, reassemble, inflate) for modules in IMPLEMENTATIONS]
    assert all(result == results[0] for result in results), results


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
