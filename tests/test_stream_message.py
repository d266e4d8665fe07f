"""The frame reader delivering one message frame by frame (``stream_message``), in both twins.

What a message streamed this way yields, joined, is what reassembly would
have made of it, wherever the switch happens (before the message, in the
middle of it, with a character split between frames) and however the
input is chunked; and afterwards the reader reassembles again.
"""

from __future__ import annotations

import random
import zlib
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.events import BytesMessage, Ping, TextMessage

from asyncwebsockets import _speedups
from asyncwebsockets._fragment import Fragment
from asyncwebsockets.deflate import MessageInflater
from asyncwebsockets.exceptions import ProtocolError

from .helpers import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, REQUIRE_COMPILED
from .helpers import frame as build_frame


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame, as a server sends it."""
    return build_frame(opcode, payload, fin=fin, rsv=rsv, key=None)


def fragmented(opcode: int, payload: bytes, cuts: list[int], pings: list[int] = ()) -> bytes:  # type: ignore[assignment]
    """``payload`` as a message in frames cut at ``cuts``, with a ping before each frame index in ``pings``."""
    points = sorted({c % (len(payload) + 1) for c in cuts})
    pieces = [payload[a:b] for a, b in zip([0] + points, points + [len(payload)], strict=True)]
    out = b""
    for i, piece in enumerate(pieces):
        if i in pings:
            out += frame(OP_PING, b"p%d" % i)
        out += frame(opcode if i == 0 else OP_CONT, piece, i == len(pieces) - 1)
    return out


def reader(codec: SimpleNamespace, **options: Any) -> Any:
    return codec.frames.FrameReader(expect_masked=False, **options)


def test_switch_before_the_message(codec: SimpleNamespace) -> None:
    r = reader(codec)
    assert r.stream_message() is None
    assert r.streaming
    events = r.feed(frame(OP_TEXT, b"ab", False) + frame(OP_CONT, b"cd", False) + frame(OP_CONT, b"e"))
    assert events == [Fragment("ab", False), Fragment("cd", False), Fragment("e", True)]
    assert not r.streaming
    # Reassembling again: the next message comes out whole.
    assert r.feed(frame(OP_BINARY, b"x", False) + frame(OP_CONT, b"y")) == [BytesMessage(b"xy")]


def test_switch_mid_message_hands_over_what_was_buffered(codec: SimpleNamespace) -> None:
    r = reader(codec)
    text = "naïve €".encode()
    # The first frame ends in the middle of the two-byte "ï".
    assert r.feed(frame(OP_TEXT, text[:3], False)) == []
    assert r.buffered > 0
    assert r.stream_message() == Fragment("na", False)
    assert r.buffered == 0
    assert r.feed(frame(OP_CONT, text[3:])) == [Fragment("ïve €", True)]
    assert r.feed(frame(OP_TEXT, b"next")) == [TextMessage("next")]


def test_a_single_frame_message_is_one_final_fragment(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    assert r.feed(frame(OP_BINARY, b"whole") + frame(OP_BINARY, b"after")) == [
        Fragment(b"whole", True),
        BytesMessage(b"after"),
    ]


def test_control_frames_between_fragments(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    data = frame(OP_BINARY, b"a", False) + frame(OP_PING, b"hi") + frame(OP_CONT, b"b")
    assert r.feed(data) == [Fragment(b"a", False), Ping(b"hi"), Fragment(b"b", True)]


def test_invalid_utf8_across_a_fragment_boundary_is_1007(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    # 0xE2 0x82 starts "€"; 0x41 cannot continue it.
    with pytest.raises(ProtocolError) as info:
        r.feed(frame(OP_TEXT, b"ok\xe2\x82", False) + frame(OP_CONT, b"A"))
    assert info.value.code == 1007
    assert info.value.events == [Fragment("ok", False)]


def test_text_ending_in_an_incomplete_character_is_1007(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    with pytest.raises(ProtocolError) as info:
        r.feed(frame(OP_TEXT, b"ok\xe2\x82", False) + frame(OP_CONT, b""))
    assert info.value.code == 1007


def test_the_size_limit_applies_per_frame_once_streaming(codec: SimpleNamespace) -> None:
    r = reader(codec, max_message_size=10)
    r.stream_message()
    events = r.feed(b"".join(frame(OP_BINARY if i == 0 else OP_CONT, b"0123456789", i == 4) for i in range(5)))
    assert b"".join(e.data for e in events) == b"0123456789" * 5
    # Whole messages are limited again afterwards.
    with pytest.raises(ProtocolError) as info:
        r.feed(frame(OP_BINARY, b"0123456789", False) + frame(OP_CONT, b"!"))
    assert info.value.code == 1009
    # And a streamed frame larger than the limit is refused.
    r = reader(codec, max_message_size=10)
    r.stream_message()
    with pytest.raises(ProtocolError) as info:
        r.feed(frame(OP_BINARY, b"0123456789!"))
    assert info.value.code == 1009


def test_cancel_before_any_frame_restores_reassembly(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    assert r.cancel_stream()
    assert not r.streaming
    assert r.feed(frame(OP_TEXT, b"a", False) + frame(OP_CONT, b"b")) == [TextMessage("ab")]


def test_cancel_is_refused_once_the_message_has_begun(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    assert r.feed(frame(OP_TEXT, b"a", False)) == [Fragment("a", False)]
    assert not r.cancel_stream()
    assert r.streaming
    assert r.feed(frame(OP_CONT, b"b")) == [Fragment("b", True)]
    assert not r.cancel_stream()


def test_stream_message_twice_or_without_reassembly_is_an_error(codec: SimpleNamespace) -> None:
    r = reader(codec)
    r.stream_message()
    with pytest.raises(RuntimeError):
        r.stream_message()
    with pytest.raises(RuntimeError):
        reader(codec, reassemble=False).stream_message()


def test_compressed_message_streamed(codec: SimpleNamespace) -> None:
    payload = random.Random(7).randbytes(6000)
    compressor = zlib.compressobj(wbits=-15)
    body = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    body = body[:-4]
    third = len(body) // 3
    head = frame(OP_BINARY, body[:third], False, rsv=0x40)
    rest = frame(OP_CONT, body[third : 2 * third], False) + frame(OP_CONT, body[2 * third :])
    r = reader(codec, inflater=MessageInflater(), max_message_size=len(payload) // 2)
    # Buffered mid-message, then streamed: each frame's output is
    # limited, not the message's.
    assert r.feed(head) == []
    events = [r.stream_message()] + r.feed(rest)
    assert all(isinstance(e, Fragment) for e in events)
    assert b"".join(e.data for e in events) == payload
    assert events[-1].message_finished


# -- the twins agree, and reassemble to the same message ----------------------------------------

if _speedups.COMPILED is None and not REQUIRE_COMPILED:
    TWINS = [_speedups.PURE]
else:
    assert _speedups.COMPILED is not None, "compiled codec required but not importable"
    TWINS = [_speedups.COMPILED, _speedups.PURE]


def _stream(modules: Any, data: bytes, chunks: list[int], switch_at: int) -> tuple[Any, ...]:
    """Feed ``data`` in chunks, switching to streaming before chunk ``switch_at``."""
    r = modules["frames"].FrameReader(expect_masked=False, max_message_size=None)
    events: list[Any] = []
    pos = 0
    error = None
    cuts = chunks + [len(data)]
    try:
        for i, cut in enumerate(cuts):
            if i == switch_at:
                first = r.stream_message()
                if first is not None:
                    events.append(first)
            events += r.feed(data[pos : pos + cut])
            pos += cut
    except ProtocolError as exc:
        events += exc.events
        error = exc.code
    return events, error, r.streaming, r.buffered


messages = st.one_of(
    st.text(max_size=300).map(lambda s: (OP_TEXT, s.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=300).map(lambda b: (OP_BINARY, b)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages,
    st.lists(st.integers(0, 400), max_size=8),
    st.lists(st.integers(0, 8), max_size=3),
    st.lists(st.integers(1, 60), max_size=30),
    st.integers(0, 30),
)
def test_random_fragmentation_streams_to_the_same_message(
    message: tuple[int, bytes], cuts: list[int], pings: list[int], chunks: list[int], switch_at: int
) -> None:
    opcode, payload = message
    data = fragmented(opcode, payload, cuts, pings) + frame(OP_BINARY, b"next")
    results = [_stream(twin, data, chunks, switch_at) for twin in TWINS]
    assert all(result == results[0] for result in results)
    events, error, streaming, buffered = results[0]
    if payload and opcode == OP_TEXT:
        try:
            expected: str | bytes = payload.decode("utf-8")
        except UnicodeDecodeError:  # surrogates: invalid UTF-8 on the wire
            assert error == 1007
            return
    else:
        expected = payload.decode("utf-8") if opcode == OP_TEXT else payload
    assert error is None
    assert buffered == 0
    data_events = [e for e in events if not isinstance(e, Ping)]
    # The message comes out whole if it was complete before the switch,
    # else as fragments that join to it; then the next one, which is
    # streamed only if the switch came after the first was complete.
    last = data_events.pop()
    assert last in (BytesMessage(b"next"), Fragment(b"next", True))
    if isinstance(last, Fragment):
        assert data_events == [TextMessage(expected) if opcode == OP_TEXT else BytesMessage(expected)]  # type: ignore[arg-type]
    elif len(data_events) == 1 and not isinstance(data_events[0], Fragment):
        assert data_events[0].data == expected
    else:
        assert all(isinstance(e, Fragment) for e in data_events)
        assert [e.message_finished for e in data_events] == [False] * (len(data_events) - 1) + [True]
        assert type(expected)().join(e.data for e in data_events) == expected  # type: ignore[arg-type]
        assert not streaming
    frames_sent = len({c % (len(payload) + 1) for c in cuts}) + 1
    assert sum(isinstance(e, Ping) for e in events) == len({p for p in pings if p < frames_sent})
