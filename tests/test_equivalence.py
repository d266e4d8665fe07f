"""The compiled codec and its pure-Python twin agree on random input.

Same bytes in, same events, errors, byte counts and output, whatever the
chunking.  Fails (rather than skips) when the compiled modules are required
but missing.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncwebsockets import _speedups
from asyncwebsockets.exceptions import ProtocolError

from .helpers import REQUIRE_COMPILED

if _speedups.COMPILED is None:
    if REQUIRE_COMPILED:
        raise RuntimeError("compiled codec required but not importable")
    pytest.skip("compiled codec not built", allow_module_level=True)

C = _speedups.COMPILED
P = _speedups.PURE
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _defined(module: Any) -> dict[str, Any]:
    """The public classes and functions a module defines (not those it imports)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and callable(value) and getattr(value, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", sorted(C))
def test_twins_have_the_same_interface(name: str) -> None:
    compiled, pure = _defined(C[name]), _defined(P[name])
    assert compiled.keys() == pure.keys()
    for attribute, value in pure.items():
        if isinstance(value, type):
            public = {n for n in dir(value) if not n.startswith("_")}
            assert {n for n in dir(compiled[attribute]) if not n.startswith("_")} == public, attribute


@SETTINGS
@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4), st.integers(0, 7))
def test_mask(data: bytes, key: bytes, offset: int) -> None:
    assert C["mask"].apply_mask(data, key, offset) == P["mask"].apply_mask(data, key, offset)
    compiled, pure = bytearray(data), bytearray(data)
    C["mask"].apply_mask_inplace(compiled, key, offset)
    P["mask"].apply_mask_inplace(pure, key, offset)
    assert compiled == pure


utf8_text = st.text().map(lambda s: s.encode("utf-8", "surrogatepass"))


def corrupt(data: bytes, where: int, byte: int) -> bytes:
    if not data:
        return bytes([byte])
    where %= len(data)
    return data[:where] + bytes([byte]) + data[where + 1 :]


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=200), utf8_text, st.builds(corrupt, utf8_text, st.integers(0, 500), st.integers(0, 255))
    ),
    st.lists(st.integers(1, 50), max_size=10),
)
def test_utf8(data: bytes, cuts: list[int]) -> None:
    assert C["utf8"].is_utf8(data) == P["utf8"].is_utf8(data)
    compiled, pure = C["utf8"].Utf8Validator(), P["utf8"].Utf8Validator()
    pos = 0
    for cut in cuts:
        piece = data[pos : pos + cut]
        pos += cut
        assert compiled.feed(piece) == pure.feed(piece)
    assert compiled.feed(data[pos:], True) == pure.feed(data[pos:], True)


def _frame(opcode: int, payload: bytes, fin: bool, rsv: int, key: bytes | None) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if key is not None else 0
    if n < 126:
        header = bytes([first, bit | n])
    elif n < 65536:
        header = bytes([first, bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, bit | 127]) + n.to_bytes(8, "big")
    if key is None:
        return header + payload
    return header + key + P["mask"].apply_mask(payload, key)


payloads = st.one_of(
    st.binary(max_size=140),
    utf8_text,
    st.builds(corrupt, utf8_text, st.integers(0, 500), st.integers(0x80, 0xFF)),
    st.sampled_from([b"\x03\xe8", b"\x03\xe8bye", b"\x0f\xa0", b"\x03", b"\x03\xed\xff\xfe"]),
    st.integers(126, 70000).map(os.urandom),
)
frames = st.builds(
    _frame,
    opcode=st.sampled_from([0, 0, 1, 1, 2, 2, 8, 9, 10, 3, 11]),
    payload=payloads,
    fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 0x40, 0x20]),
    key=st.one_of(st.binary(min_size=4, max_size=4), st.none()),
)


def _read(modules: Any, data: bytes, cuts: list[int], **options: Any) -> tuple[Any, ...]:
    reader = modules["frames"].FrameReader(**options)
    events: list[Any] = []
    error = None
    pos = 0
    try:
        for cut in cuts:
            events += reader.feed(data[pos : pos + cut])
            pos += cut
        events += reader.feed(data[pos:])
    except ProtocolError as exc:
        events += exc.events
        error = (exc.code, exc.reason)
    return events, error, reader.buffered, reader.finished


def _fragmented(text: bytes, cut1: int, cut2: int, key: bytes, opcode: int) -> bytes:
    a, b = sorted((cut1 % (len(text) + 1), cut2 % (len(text) + 1)))
    return (
        _frame(opcode, text[:a], False, 0, key)
        + _frame(9, b"between", True, 0, key)
        + _frame(0, text[a:b], False, 0, key)
        + _frame(0, text[b:], True, 0, key)
    )


fragmented = st.builds(
    _fragmented,
    st.one_of(
        utf8_text,
        utf8_text.map(lambda b: b[:-1]),
        st.builds(corrupt, utf8_text, st.integers(0, 500), st.integers(0x80, 0xFF)),
    ),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.binary(min_size=4, max_size=4),
    st.sampled_from([1, 2]),
)


@SETTINGS
@given(
    st.lists(st.one_of(frames, fragmented, st.binary(max_size=12)), max_size=8).map(b"".join),
    st.lists(st.integers(1, 300), max_size=20),
    st.booleans(),
    st.sampled_from([None, 0, 100, 1 << 20]),
    st.booleans(),
    st.sampled_from([0, 0x40]),
)
def test_frame_reader(
    data: bytes, cuts: list[int], expect_masked: bool, max_size: int | None, reassemble: bool, rsv: int
) -> None:
    options = dict(expect_masked=expect_masked, max_message_size=max_size, reassemble=reassemble, allowed_rsv=rsv)
    assert _read(C, data, cuts, **options) == _read(P, data, cuts, **options)


def _assemble(modules: Any, steps: list[tuple[str, int, bytes]], **options: Any) -> list[Any]:
    """What a message assembler makes of ``steps``: data frames, and switches to streaming."""
    assembler = modules["messages"].MessageAssembler(**options)
    seen: list[Any] = []
    for action, b0, payload in steps:
        try:
            if action == "stream":
                seen.append(("stream", assembler.stream_message()))
            elif action == "cancel":
                seen.append(("cancel", assembler.cancel_stream()))
            elif (b0 & 0x0F == 0) == (assembler.opcode == 0):
                # The reader refuses that header (a continuation with nothing
                # to continue, or a new message inside one) before this.
                continue
            else:
                assembler.check_length(len(payload), b0)
                seen.append(assembler.frame_event(b0, payload))
        except (ProtocolError, RuntimeError) as exc:
            seen.append((type(exc).__name__, str(exc)))
            break
        seen.append((assembler.opcode, assembler.size, assembler.streaming))
    return seen


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("frame"),
                st.builds(lambda fin, opcode: fin | opcode, st.sampled_from([0, 0x80]), st.sampled_from([0, 1, 2])),
                st.one_of(
                    st.binary(max_size=300),
                    utf8_text,
                    st.builds(corrupt, utf8_text, st.integers(0, 500), st.integers(0x80, 0xFF)),
                ),
            ),
            st.tuples(st.sampled_from(["stream", "cancel"]), st.just(0), st.just(b"")),
        ),
        max_size=12,
    ),
    st.sampled_from([None, 0, 100, 1 << 20]),
    st.booleans(),
)
def test_message_assembler(steps: list[tuple[str, int, bytes]], max_size: int | None, reassemble: bool) -> None:
    # Fed directly: the switches to streaming land between any two frames.
    options = dict(max_message_size=max_size, reassemble=reassemble)
    assert _assemble(C, steps, **options) == _assemble(P, steps, **options)


@SETTINGS
@given(
    st.sampled_from([0, 1, 2, 8, 9, 10]),
    st.one_of(st.binary(max_size=70000), st.integers(65530, 70000).map(os.urandom)),
    st.booleans(),
    st.sampled_from([0, 0x40]),
)
def test_frame_writer(opcode: int, payload: bytes, fin: bool, rsv: int) -> None:
    # Unmasked output is deterministic: byte for byte the same.
    assert C["frame_writer"].FrameWriter(mask=False).frame(opcode, payload, fin, rsv) == P["frame_writer"].FrameWriter(
        mask=False
    ).frame(opcode, payload, fin, rsv)
    # A large bytes payload may come as header and payload: the same pieces,
    # which joined are the frame.
    for mask in (False, True):
        compiled = C["frame_writer"].FrameWriter(mask=mask).frame_parts(opcode, payload, fin, rsv)
        pure = P["frame_writer"].FrameWriter(mask=mask).frame_parts(opcode, payload, fin, rsv)
        assert type(compiled) is type(pure) is (tuple if not mask and len(payload) >= 65536 else bytes)
        if not mask:
            assert compiled == pure
            joined = b"".join(compiled) if isinstance(compiled, tuple) else compiled
            assert joined == P["frame_writer"].FrameWriter(mask=False).frame(opcode, payload, fin, rsv)
    # Masked output differs by key; each implementation reads the other's.
    for writer, reader in ((C, P), (P, C)):
        out = writer["frame_writer"].FrameWriter(mask=True).frame(2, payload)
        assert reader["frames"].FrameReader(expect_masked=True, max_message_size=None).feed(out)[0].data == payload


def _read_into_place(data: bytes, cuts: list[int], **options: Any) -> tuple[Any, ...]:
    """Like _read, with the compiled reader reading into receive_buffer() where it offers one.

    Returns what _read does, the sizes of the chunks actually fed (a read
    into place stops at the end of the payload) and how many were read so.
    """
    reader = C["frames"].FrameReader(**options)
    events: list[Any] = []
    error = None
    pos = 0
    used: list[int] = []
    offered = 0
    sizes = iter(cuts)
    try:
        while pos < len(data):
            cut = next(sizes, len(data))
            rest = reader.receive_buffer()
            if rest is None:
                chunk: bytes | memoryview = data[pos : pos + cut]
            else:
                offered += 1
                assert not rest.readonly
                n = min(cut, len(rest), len(data) - pos)
                rest[:n] = data[pos : pos + n]
                chunk = rest[:n]
            used.append(len(chunk))
            pos += len(chunk)
            events += reader.feed(chunk)
    except ProtocolError as exc:
        events += exc.events
        error = (exc.code, exc.reason)
    return (events, error, reader.buffered, reader.finished), used, offered


@st.composite
def large_messages(draw: Any, masked: bool) -> bytes:
    """Valid large frames (a message, or a fragment of one), each between arbitrary frames."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.binary(min_size=4, max_size=4)) if masked else None
        if draw(st.booleans()):
            payload = os.urandom(draw(st.integers(65536, 300000)))
            opcode = 2
        else:
            payload = ("é" * draw(st.integers(35000, 100000))).encode()
            opcode = 1
        fin = draw(st.sampled_from([True, True, False]))
        out.append(_frame(opcode, payload, fin, 0, key))
        if not fin:
            out.append(_frame(0, b"end", True, 0, key))
        out.append(draw(st.one_of(st.just(b""), frames)))
    return b"".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.booleans().flatmap(lambda masked: st.tuples(st.just(masked), large_messages(masked))),
    st.lists(st.integers(1, 150000), max_size=30),
    st.sampled_from([None, 100000, 1 << 20]),
)
def test_frame_reader_reading_into_place(case: tuple[bool, bytes], cuts: list[int], max_size: int | None) -> None:
    # A transport reads the rest of a large frame straight into its payload:
    # the events are those of the twin fed the same bytes as plain chunks.
    expect_masked, data = case
    options = dict(expect_masked=expect_masked, max_message_size=max_size)
    compiled, used, _ = _read_into_place(data, cuts, **options)
    assert compiled == _read(P, data, used, **options)


def test_reading_into_place_is_offered_and_outlives_the_reader() -> None:
    payload = os.urandom(300000)
    data = _frame(2, payload, True, 0, b"\x01\x02\x03\x04")
    (events, error, buffered, finished), _, offered = _read_into_place(data, [1000] + [50000] * 10, expect_masked=True)
    assert offered > 0 and error is None and [e.data for e in events] == [payload]
    # The view keeps the payload alive on its own: a transport still
    # holding one when its connection is dropped writes into valid memory.
    reader = C["frames"].FrameReader(expect_masked=True, max_message_size=None)
    reader.feed(data[:1000])
    rest = reader.receive_buffer()
    assert rest is not None and len(rest) == len(payload) - (1000 - 14)
    del reader
    rest[:] = b"\0" * len(rest)
    # The twin never offers one: it reads nothing into place.
    pure = P["frames"].FrameReader(expect_masked=True, max_message_size=None)
    pure.feed(data[:1000])
    assert pure.receive_buffer() is None
