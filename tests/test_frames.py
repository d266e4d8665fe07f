"""The frame codec against RFC 6455 section 5, for both implementations.

Input frames are built by hand (:func:`frame`, following the diagram of
section 5.2) or taken from the examples of section 5.7, byte for byte; what
the writer produces is compared with bytes written out here.  At the end,
frames cross over to and from two independent implementations, websockets
and wsproto.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from asyncwebsockets.exceptions import ProtocolError

from .helpers import (
    KEY,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    RSV2,
    RSV3,
    close_payload,
    frame,
    mask,
)


def server(codec: SimpleNamespace, **kwargs: Any) -> Any:
    """A reader of the frames a client sends (masked)."""
    return codec.frames.FrameReader(expect_masked=True, **kwargs)


def client(codec: SimpleNamespace, **kwargs: Any) -> Any:
    """A reader of the frames a server sends (unmasked)."""
    return codec.frames.FrameReader(expect_masked=False, **kwargs)


def feed_cuts(reader: Any, data: bytes, cuts: Sequence[int]) -> list[Event]:
    """Feed ``data`` cut at the given positions; all the events, in order."""
    events: list[Event] = []
    start = 0
    for end in [*cuts, len(data)]:
        events += reader.feed(data[start:end])
        start = end
    return events


def feed_step(reader: Any, data: bytes, step: int) -> list[Event]:
    return feed_cuts(reader, data, range(step, len(data), step))


def random_cuts(rng: random.Random, size: int, most: int = 12) -> list[int]:
    if size < 2:
        return []
    return sorted(rng.sample(range(1, size), min(size - 1, rng.randint(1, most))))


def text(data: str, message_finished: bool = True) -> TextMessage:
    return TextMessage(data=data, frame_finished=True, message_finished=message_finished)


def binary(data: bytes, message_finished: bool = True) -> BytesMessage:
    return BytesMessage(data=data, frame_finished=True, message_finished=message_finished)


def check_types(events: Sequence[Event]) -> None:
    """Payloads are immutable bytes or str, not views into our buffers."""
    for event in events:
        if isinstance(event, BytesMessage):
            assert type(event.data) is bytes
        elif isinstance(event, TextMessage):
            assert type(event.data) is str
        elif isinstance(event, (Ping, Pong)):
            assert type(event.payload) is bytes
        elif isinstance(event, CloseConnection):
            assert type(event.code) is int and type(event.reason) is str


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 7919 + size).randbytes(size)


# -- RFC 6455 section 5.7 examples ------------------------------------------

P256 = payload(256)
P64K = payload(65536)

RFC_EXAMPLES = [
    pytest.param("810548656c6c6f", False, [text("Hello")], id="single-frame-unmasked-text"),
    pytest.param("818537fa213d7f9f4d5158", True, [text("Hello")], id="single-frame-masked-text"),
    pytest.param("010348656c80026c6f", False, [text("Hello")], id="fragmented-unmasked-text"),
    pytest.param("890548656c6c6f", False, [Ping(b"Hello")], id="unmasked-ping"),
    pytest.param("8a8537fa213d7f9f4d5158", True, [Pong(b"Hello")], id="masked-pong"),
    pytest.param("827e0100" + P256.hex(), False, [binary(P256)], id="256-bytes-16-bit-length"),
    pytest.param("827f0000000000010000" + P64K.hex(), False, [binary(P64K)], id="64KiB-64-bit-length"),
]


@pytest.mark.parametrize("wire_hex, masked, expected", RFC_EXAMPLES)
def test_rfc_examples(codec: SimpleNamespace, wire_hex: str, masked: bool, expected: list[Event]) -> None:
    wire = bytes.fromhex(wire_hex)
    make = server if masked else client
    reader = make(codec)
    events = reader.feed(wire)
    assert events == expected
    check_types(events)
    assert reader.buffered == 0
    assert not reader.finished
    # One byte at a time.
    assert feed_step(make(codec), wire, 1) == expected
    # Cut once anywhere (every cut of the small ones, some of the large).
    cuts = range(1, len(wire)) if len(wire) < 300 else [1, 2, 3, 4, 9, 10, 11, 200, len(wire) - 1]
    for cut in cuts:
        assert feed_cuts(make(codec), wire, [cut]) == expected, cut


def test_rfc_examples_in_one_stream(codec: SimpleNamespace) -> None:
    # The unmasked examples back to back, as a client reads them.
    wire = bytes.fromhex("810548656c6c6f010348656c890548656c6c6f80026c6f827e0100") + P256
    expected = [text("Hello"), Ping(b"Hello"), text("Hello"), binary(P256)]
    assert client(codec).feed(wire) == expected
    for step in (1, 2, 3, 5):
        assert feed_step(client(codec), wire, step) == expected


def test_rfc_fragmented_example_holds_the_first_fragment(codec: SimpleNamespace) -> None:
    reader = client(codec)
    assert reader.feed(bytes.fromhex("010348656c")) == []
    assert reader.buffered == 3  # "Hel", held for the message
    assert reader.feed(bytes.fromhex("8002")) == []
    assert reader.buffered == 5
    assert reader.feed(b"lo") == [text("Hello")]
    assert reader.buffered == 0


# -- chunking ----------------------------------------------------------------


class Conversation:
    """Frames with the events each completes and the message bytes held after it."""

    def __init__(self) -> None:
        self.wire = b""
        self.ends: list[int] = []
        self.held: list[int] = []
        self.events: list[Event] = []

    def add(self, data: bytes, events: Sequence[Event] = (), held: int = 0) -> Conversation:
        self.wire += data
        self.ends.append(len(self.wire))
        self.held.append(held)
        self.events += events
        return self

    def buffered_after(self, fed: int) -> int:
        """What ``buffered`` must say once the first ``fed`` bytes are in."""
        complete = [i for i, end in enumerate(self.ends) if end <= fed]
        if not complete:
            return fed
        last = complete[-1]
        return fed - self.ends[last] + self.held[last]


def conversation(key: bytes | None) -> Conversation:
    euro, clef = "€".encode(), "𝄞".encode()
    big = payload(70000, 1)
    c = Conversation()
    c.add(frame(OP_TEXT, "héllo wörld".encode(), key=key), [text("héllo wörld")])
    c.add(frame(OP_BINARY, b"", key=key), [binary(b"")])
    c.add(frame(OP_TEXT, b"", key=key), [text("")])
    for size in (1, 125, 126, 127, 65535, 65536):
        data = payload(size, 2)
        c.add(frame(OP_BINARY, data, key=key), [binary(data)])
    c.add(frame(OP_PING, b"", key=key), [Ping(b"")])
    c.add(frame(OP_PONG, b"p" * 125, key=key), [Pong(b"p" * 125)])
    # A text message in four fragments, cut inside code points, with
    # control frames between them.
    c.add(frame(OP_TEXT, b"a" + euro[:1], fin=False, key=key), held=2)
    c.add(frame(OP_PING, b"between", key=key), [Ping(b"between")], held=2)
    c.add(frame(OP_CONT, euro[1:] + clef[:3], fin=False, key=key), held=7)
    c.add(frame(OP_PONG, b"", key=key), [Pong(b"")], held=7)
    c.add(frame(OP_CONT, b"", fin=False, key=key), held=7)
    c.add(frame(OP_CONT, clef[3:] + b"z", key=key), [text("a€𝄞z")])
    # A large binary message in fragments, an empty one among them.
    c.add(frame(OP_BINARY, big[:40000], fin=False, key=key), held=40000)
    c.add(frame(OP_CONT, b"", fin=False, key=key), held=40000)
    c.add(frame(OP_CONT, big[40000:], key=key), [binary(big)])
    c.add(frame(OP_CLOSE, close_payload(1001, "bye ✓".encode()), key=key), [CloseConnection(1001, "bye ✓")])
    return c


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_every_chunking_gives_the_same_events(codec: SimpleNamespace, masked: bool) -> None:
    c = conversation(KEY if masked else None)
    make = server if masked else client
    whole = make(codec).feed(c.wire)
    assert whole == c.events
    check_types(whole)
    rng = random.Random(5)
    cut_sets: list[Sequence[int]] = [range(step, len(c.wire), step) for step in (1, 2, 3, 7, 125, 4096)]
    cut_sets += [random_cuts(rng, len(c.wire), 40) for _ in range(10)]
    for cuts in cut_sets:
        reader = make(codec)
        events: list[Event] = []
        start = 0
        for end in [*cuts, len(c.wire)]:
            events += reader.feed(c.wire[start:end])
            start = end
            if end < len(c.wire):
                assert reader.buffered == c.buffered_after(end), end
        assert events == c.events
        assert reader.finished and reader.buffered == 0


def test_every_two_and_three_way_cut(codec: SimpleNamespace) -> None:
    wire = (
        frame(OP_TEXT, "ü€".encode()[:3], fin=False)
        + frame(OP_PING, b"!")
        + frame(OP_CONT, "ü€".encode()[3:])
        + frame(OP_BINARY, b"\x00\xff")
        + frame(OP_CLOSE, close_payload(1000))
    )
    expected = [Ping(b"!"), text("ü€"), binary(b"\x00\xff"), CloseConnection(1000, "")]
    for i in range(1, len(wire)):
        for j in range(i, len(wire)):
            assert feed_cuts(server(codec), wire, [i, j]) == expected, (i, j)


def test_buffer_kinds_and_copying(codec: SimpleNamespace) -> None:
    data = frame(OP_BINARY, b"payload bytes") + frame(OP_TEXT, b"text")
    for kind in (bytes, bytearray, memoryview):
        assert server(codec).feed(kind(data)) == [binary(b"payload bytes"), text("text")]
    # The reader keeps its own copy of a partial frame: reusing the caller's
    # buffer afterwards changes nothing.
    reader = server(codec)
    chunk = bytearray(data[:9])
    assert reader.feed(chunk) == []
    chunk[:] = b"\xff" * 9
    assert reader.feed(memoryview(bytearray(data[9:]))) == [binary(b"payload bytes"), text("text")]


def test_empty_feed(codec: SimpleNamespace) -> None:
    reader = server(codec)
    assert reader.feed(b"") == []
    assert reader.feed(frame(OP_TEXT, b"ab")[:3]) == []
    assert reader.feed(b"") == []
    assert reader.buffered == 3
    assert reader.feed(frame(OP_TEXT, b"ab")[3:]) == [text("ab")]


# -- fragmentation ------------------------------------------------------------


def test_fragmented_message_with_interleaved_control_frames(codec: SimpleNamespace) -> None:
    data = "Grüße, 世界 🌍!".encode()
    rng = random.Random(9)
    for _ in range(20):
        cuts = random_cuts(rng, len(data), 6)
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        wire = b""
        expected: list[Event] = []
        for i, piece in enumerate(pieces):
            wire += frame(OP_TEXT if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1)
            if i < len(pieces) - 1:
                control = frame(OP_PING, b"%d" % i) if i % 2 else frame(OP_PONG, b"%d" % i)
                wire += control
                expected.append(Ping(b"%d" % i) if i % 2 else Pong(b"%d" % i))
        expected.append(text(data.decode()))
        assert server(codec).feed(wire) == expected, cuts
        assert feed_step(server(codec), wire, 1) == expected, cuts


def test_fragmented_binary_and_empty_fragments(codec: SimpleNamespace) -> None:
    wire = (
        frame(OP_BINARY, b"", fin=False)
        + frame(OP_CONT, b"", fin=False)
        + frame(OP_CONT, b"ab", fin=False)
        + frame(OP_CONT, b"")
    )
    assert server(codec).feed(wire) == [binary(b"ab")]
    # All fragments empty.
    wire = frame(OP_TEXT, b"", fin=False) + frame(OP_CONT, b"")
    assert server(codec).feed(wire) == [text("")]


def test_many_tiny_fragments(codec: SimpleNamespace) -> None:
    data = payload(3000, 3)
    wire = frame(OP_BINARY, data[:1], fin=False)
    wire += b"".join(frame(OP_CONT, data[i : i + 1], fin=False) for i in range(1, 2999))
    wire += frame(OP_CONT, data[2999:])
    reader = server(codec)
    assert reader.feed(wire[:-3]) == []
    assert reader.buffered == 2999 + 4  # fragments held, plus 4 bytes of the last frame
    assert reader.feed(wire[-3:]) == [binary(data)]
    assert reader.buffered == 0


def test_state_resets_after_a_fragmented_message(codec: SimpleNamespace) -> None:
    reader = server(codec)
    wire = frame(OP_TEXT, b"one", fin=False) + frame(OP_CONT, b"!") + frame(OP_BINARY, b"two", fin=False)
    wire += frame(OP_CONT, b"!") + frame(OP_TEXT, b"three")
    assert reader.feed(wire) == [text("one!"), binary(b"two!"), text("three")]
    # No message open now: a continuation frame is a violation.
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_CONT, b"late"))
    assert info.value.code == 1002


def test_close_inside_a_fragmented_message(codec: SimpleNamespace) -> None:
    reader = server(codec)
    wire = frame(OP_TEXT, b"unfinished", fin=False) + frame(OP_CLOSE, close_payload(1000)) + frame(OP_CONT, b"!")
    assert reader.feed(wire) == [CloseConnection(1000, "")]
    assert reader.finished


# -- reassemble=False -----------------------------------------------------------


def test_stream_mode_delivers_each_frame(codec: SimpleNamespace) -> None:
    wire = (
        frame(OP_TEXT, b"a\xe2", fin=False)  # the euro sign, cut after its first byte
        + frame(OP_CONT, b"\x82", fin=False)
        + frame(OP_PING, b"ping")
        + frame(OP_CONT, b"\xacb")
        + frame(OP_BINARY, b"x", fin=False)
        + frame(OP_CONT, b"", fin=False)
        + frame(OP_CONT, b"yz")
        + frame(OP_TEXT, "whole €".encode())
        + frame(OP_BINARY, b"whole")
        + frame(OP_TEXT, b"\xf0\x9f", fin=False)  # U+1F600 in two halves
        + frame(OP_CONT, b"\x98\x80")
    )
    expected = [
        text("a", message_finished=False),
        text("", message_finished=False),
        Ping(b"ping"),
        text("€b"),
        binary(b"x", message_finished=False),
        binary(b"", message_finished=False),
        binary(b"yz"),
        text("whole €"),
        binary(b"whole"),
        text("", message_finished=False),
        text("\U0001f600"),
    ]
    for step in (0, 1, 3):
        reader = server(codec, reassemble=False)
        events = feed_step(reader, wire, step) if step else reader.feed(wire)
        assert events == expected, step
        check_types(events)


def test_stream_mode_holds_no_fragments(codec: SimpleNamespace) -> None:
    reader = server(codec, reassemble=False)
    assert reader.feed(frame(OP_BINARY, b"x" * 1000, fin=False)) == [binary(b"x" * 1000, False)]
    assert reader.buffered == 0
    assert reader.feed(frame(OP_CONT, b"y" * 1000)[:10]) == []
    assert reader.buffered == 10


def test_stream_mode_invalid_utf8(codec: SimpleNamespace) -> None:
    # Refused at the frame holding the bad byte; earlier frames were delivered.
    reader = server(codec, reassemble=False)
    assert reader.feed(frame(OP_TEXT, b"ok", fin=False)) == [text("ok", False)]
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_CONT, b"\xed", fin=False) + frame(OP_CONT, b"\xa0\x80", fin=False))
    assert info.value.code == 1007
    assert info.value.events == [text("", False)]
    # Cut short at the end of the message.
    reader = server(codec, reassemble=False)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_TEXT, b"ab\xe2\x82", fin=False) + frame(OP_CONT, b""))
    assert info.value.code == 1007
    assert info.value.events == [text("ab", False)]


def test_stream_mode_limit_is_per_frame(codec: SimpleNamespace) -> None:
    reader = server(codec, reassemble=False, max_message_size=10)
    wire = frame(OP_BINARY, b"a" * 10, fin=False) + frame(OP_CONT, b"b" * 10, fin=False) + frame(OP_CONT, b"c" * 10)
    assert reader.feed(wire) == [binary(b"a" * 10, False), binary(b"b" * 10, False), binary(b"c" * 10)]
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_TEXT, b"d" * 11)[:2])
    assert info.value.code == 1009


# -- max_message_size -----------------------------------------------------------


def header_size(length: int, masked: bool) -> tuple[int, int]:
    """(bytes until the length is known, bytes of the whole header)."""
    known = 2 if length <= 125 else 4 if length <= 0xFFFF else 10
    return known, known + (4 if masked else 0)


def feed_until_error(reader: Any, data: bytes) -> int:
    """Feed one byte at a time; how many bytes were in when ProtocolError came."""
    for i in range(len(data)):
        try:
            reader.feed(data[i : i + 1])
        except ProtocolError:
            return i + 1
    raise AssertionError("no ProtocolError")


@pytest.mark.parametrize("limit", [0, 1, 125, 126, 1000, 65535, 65536, 70000])
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_limit_exact_and_one_over(codec: SimpleNamespace, limit: int, masked: bool) -> None:
    make = server if masked else client
    key = KEY if masked else None
    data = payload(limit, 4)
    assert make(codec, max_message_size=limit).feed(frame(OP_BINARY, data, key=key)) == [binary(data)]
    # One byte over: refused from the header, before any payload arrives.
    over = frame(OP_BINARY, b"", key=key, length=limit + 1)
    known, full = header_size(limit + 1, masked)
    assert len(over) == full
    reader = make(codec, max_message_size=limit)
    with pytest.raises(ProtocolError) as info:
        reader.feed(over)
    assert info.value.code == 1009
    assert reader.finished and reader.buffered == 0
    # Byte by byte: as soon as the length is known.
    assert feed_until_error(make(codec, max_message_size=limit), over) == known


@pytest.mark.parametrize("length", [1 << 30, (1 << 63) - 1])
def test_huge_frame_refused_from_its_header(codec: SimpleNamespace, length: int) -> None:
    # Only the 14-byte header of a 1 GiB (or 8 EiB) frame.
    header = frame(OP_BINARY, b"", length=length)
    assert len(header) == 14
    reader = server(codec)
    with pytest.raises(ProtocolError) as info:
        reader.feed(header)
    assert info.value.code == 1009
    assert reader.finished
    assert reader.buffered < 64
    assert reader.feed(b"\x00" * 1000) == []
    assert reader.buffered < 64
    assert feed_until_error(server(codec), header) == 10


def test_fragments_add_up(codec: SimpleNamespace) -> None:
    # Exactly at the limit in three fragments.
    reader = server(codec, max_message_size=10)
    wire = frame(OP_TEXT, b"abcd", fin=False) + frame(OP_CONT, b"efg", fin=False) + frame(OP_CONT, b"hij")
    assert reader.feed(wire) == [text("abcdefghij")]
    # One over: refused at the header of the fragment that crosses it.
    reader = server(codec, max_message_size=10)
    assert reader.feed(frame(OP_BINARY, b"x" * 6, fin=False)) == []
    assert reader.feed(frame(OP_CONT, b"y" * 4, fin=False)) == []
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_CONT, b"z")[:2])
    assert info.value.code == 1009
    assert reader.finished


def test_control_frames_do_not_count(codec: SimpleNamespace) -> None:
    reader = server(codec, max_message_size=10)
    wire = (
        frame(OP_BINARY, b"x" * 5, fin=False)
        + frame(OP_PING, b"p" * 125)
        + frame(OP_PONG, b"q" * 125)
        + frame(OP_CONT, b"y" * 5)
    )
    assert reader.feed(wire) == [Ping(b"p" * 125), Pong(b"q" * 125), binary(b"x" * 5 + b"y" * 5)]
    # And close frames bigger than the limit are fine too.
    reader = server(codec, max_message_size=0)
    reason = "r" * 123
    assert reader.feed(frame(OP_CLOSE, close_payload(1000, reason.encode()))) == [CloseConnection(1000, reason)]


def test_limit_applies_per_message(codec: SimpleNamespace) -> None:
    reader = server(codec, max_message_size=8)
    for _ in range(5):
        wire = frame(OP_BINARY, b"1234", fin=False) + frame(OP_CONT, b"5678")
        assert reader.feed(wire) == [binary(b"12345678")]


def test_default_limit_is_1_mib(codec: SimpleNamespace) -> None:
    data = bytes(1 << 20)
    assert server(codec).feed(frame(OP_BINARY, data)) == [binary(data)]
    with pytest.raises(ProtocolError) as info:
        server(codec).feed(frame(OP_BINARY, b"", length=(1 << 20) + 1))
    assert info.value.code == 1009


def test_no_limit(codec: SimpleNamespace) -> None:
    data = payload(3 << 20, 5)
    assert server(codec, max_message_size=None).feed(frame(OP_BINARY, data)) == [binary(data)]
    wire = frame(OP_BINARY, data[: 2 << 20], fin=False) + frame(OP_CONT, data[2 << 20 :])
    assert server(codec, max_message_size=None).feed(wire) == [binary(data)]
    # The header of a 1 TiB frame is only a header.
    reader = server(codec, max_message_size=None)
    assert reader.feed(frame(OP_BINARY, b"", length=1 << 40)) == []
    assert reader.buffered == 14 and not reader.finished


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_large_frames_in_pieces(codec: SimpleNamespace, masked: bool) -> None:
    """Frames far bigger than a read, cut anywhere, whole or fragmented, text or binary."""
    key = KEY if masked else None
    make = server if masked else client
    big = payload(300_000, 9)
    prose = ("grüße 𝄞 " * 8000).encode()  # multi-byte code points on every cut
    wire = (
        frame(OP_BINARY, big, key=key)
        + frame(OP_PING, b"p", key=key)
        + frame(OP_TEXT, prose, key=key)
        + frame(OP_BINARY, big[:70_000], fin=False, key=key)
        + frame(OP_CONT, big[70_000:], key=key)
        + frame(OP_BINARY, b"small", key=key)
    )
    expected = [binary(big), Ping(b"p"), text(prose.decode()), binary(big), binary(b"small")]
    rng = random.Random(11)
    for step in (1000, 4093, 65536, 262144, len(wire)):
        assert feed_step(make(codec, max_message_size=None), wire, step) == expected
    for _ in range(20):
        reader = make(codec, max_message_size=None)
        assert feed_cuts(reader, wire, random_cuts(rng, len(wire), 30)) == expected
        assert reader.buffered == 0


def test_large_frame_in_pieces_is_still_checked(codec: SimpleNamespace) -> None:
    """Invalid UTF-8 at the end of a large text frame, and a close code, as it arrives in pieces."""
    bad = ("é" * 20000).encode() + b"\xff"
    wire = frame(OP_TEXT, bad)
    reader = server(codec, max_message_size=None)
    assert reader.feed(wire[:5000]) == []
    assert reader.buffered == 5000
    with pytest.raises(ProtocolError) as info:
        reader.feed(wire[5000:])
    assert info.value.code == 1007
    assert reader.finished and reader.buffered == 0
    # One byte over the limit, announced by a large frame's header, is refused before its payload.
    reader = server(codec, max_message_size=50_000)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_BINARY, b"", length=50_001))
    assert info.value.code == 1009


def test_negative_limit(codec: SimpleNamespace) -> None:
    with pytest.raises(ValueError):
        server(codec, max_message_size=-1)


# -- protocol violations --------------------------------------------------------

# (setup sent before, bad frame, close code, bytes of the bad frame after
# which the error is known; None: when the frame is complete)
VIOLATIONS = [
    # Reserved bits, RFC 6455 section 5.2.
    pytest.param(b"", frame(OP_TEXT, b"x", rsv=RSV1), 1002, 2, id="rsv1-text"),
    pytest.param(b"", frame(OP_BINARY, b"x", rsv=RSV2), 1002, 2, id="rsv2-binary"),
    pytest.param(b"", frame(OP_TEXT, b"x", rsv=RSV3), 1002, 2, id="rsv3-text"),
    pytest.param(b"", frame(OP_BINARY, b"x", rsv=RSV1 | RSV2 | RSV3), 1002, 2, id="rsv-all"),
    pytest.param(b"", frame(OP_PING, b"x", rsv=RSV1), 1002, 2, id="rsv1-ping"),
    pytest.param(b"", frame(OP_CLOSE, close_payload(1000), rsv=RSV3), 1002, 2, id="rsv3-close"),
    pytest.param(frame(OP_TEXT, b"a", fin=False), frame(OP_CONT, b"b", rsv=RSV2), 1002, 2, id="rsv2-continuation"),
    # Unknown opcodes.
    *[pytest.param(b"", frame(op, b"x"), 1002, 2, id=f"opcode-{op}") for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    pytest.param(b"", frame(3, b"x", fin=False), 1002, 2, id="opcode-3-unfinished"),
    pytest.param(b"", frame(11, b"", fin=False), 1002, 2, id="opcode-11-unfinished"),
    # Control frames: at most 125 bytes, never fragmented (section 5.5).
    pytest.param(b"", frame(OP_PING, b"x" * 126), 1002, 2, id="ping-126"),
    pytest.param(b"", frame(OP_PONG, b"x" * 65536), 1002, 2, id="pong-64-bit-length"),
    pytest.param(b"", frame(OP_CLOSE, close_payload(1000, b"x" * 124)), 1002, 2, id="close-126"),
    # A 16-bit length field holding a small length is still not <= 125.
    pytest.param(b"", b"\x89\xfe\x00\x05" + KEY + mask(b"Hello", KEY), 1002, 2, id="ping-16-bit-5"),
    pytest.param(b"", frame(OP_PING, b"x", fin=False), 1002, 2, id="fragmented-ping"),
    pytest.param(b"", frame(OP_PONG, b"", fin=False), 1002, 2, id="fragmented-pong"),
    pytest.param(b"", frame(OP_CLOSE, close_payload(1000), fin=False), 1002, 2, id="fragmented-close"),
    pytest.param(
        frame(OP_TEXT, b"a", fin=False), frame(OP_PING, b"x", fin=False), 1002, 2, id="fragmented-ping-in-message"
    ),
    # Masking, section 5.1: a client masks, a server does not.
    pytest.param(b"", frame(OP_TEXT, b"x", key=None), 1002, 2, id="unmasked-text"),
    pytest.param(b"", frame(OP_PING, b"", key=None), 1002, 2, id="unmasked-ping"),
    pytest.param(b"", frame(OP_CLOSE, b"", key=None), 1002, 2, id="unmasked-close"),
    pytest.param(frame(OP_TEXT, b"a", fin=False), frame(OP_CONT, b"b", key=None), 1002, 2, id="unmasked-continuation"),
    # Fragmentation, section 5.4.
    pytest.param(b"", frame(OP_CONT, b"x"), 1002, 2, id="continuation-first"),
    pytest.param(b"", frame(OP_CONT, b"x", fin=False), 1002, 2, id="unfinished-continuation-first"),
    pytest.param(frame(OP_TEXT, b"done"), frame(OP_CONT, b"x"), 1002, 2, id="continuation-after-message"),
    pytest.param(
        frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"b"),
        frame(OP_CONT, b"c"),
        1002,
        2,
        id="continuation-after-fragmented-message",
    ),
    pytest.param(frame(OP_TEXT, b"a", fin=False), frame(OP_TEXT, b"b"), 1002, 2, id="text-in-text"),
    pytest.param(frame(OP_TEXT, b"a", fin=False), frame(OP_BINARY, b"b"), 1002, 2, id="binary-in-text"),
    pytest.param(frame(OP_BINARY, b"a", fin=False), frame(OP_TEXT, b"b", fin=False), 1002, 2, id="text-in-binary"),
    pytest.param(
        frame(OP_BINARY, b"a", fin=False) + frame(OP_PING, b""),
        frame(OP_BINARY, b"b"),
        1002,
        2,
        id="binary-in-binary-after-ping",
    ),
    # The most significant bit of a 64-bit length must be 0 (section 5.2).
    pytest.param(b"", frame(OP_BINARY, b"", length=1 << 63), 1002, 10, id="length-top-bit"),
    pytest.param(b"", frame(OP_TEXT, b"", length=(1 << 64) - 1), 1002, 10, id="length-all-ones"),
    # Invalid UTF-8 in text, section 8.1.
    pytest.param(b"", frame(OP_TEXT, b"\xff"), 1007, None, id="utf8-ff"),
    pytest.param(b"", frame(OP_TEXT, b"ok \xc0\x80"), 1007, None, id="utf8-overlong"),
    pytest.param(b"", frame(OP_TEXT, b"\xed\xa0\x80"), 1007, None, id="utf8-surrogate"),
    pytest.param(b"", frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007, None, id="utf8-above-10ffff"),
    pytest.param(b"", frame(OP_TEXT, b"cut \xe2\x82"), 1007, None, id="utf8-truncated"),
    pytest.param(frame(OP_TEXT, b"ok", fin=False), frame(OP_CONT, b"\x80"), 1007, None, id="utf8-in-continuation"),
    # Close frames, section 5.5.1.
    pytest.param(b"", frame(OP_CLOSE, b"\x03"), 1002, None, id="close-1-byte"),
    pytest.param(b"", frame(OP_CLOSE, close_payload(999)), 1002, None, id="close-999"),
    pytest.param(b"", frame(OP_CLOSE, close_payload(1000, b"\xff")), 1007, None, id="close-reason-utf8"),
]


@pytest.mark.parametrize("setup, bad, code, known_at", VIOLATIONS)
def test_violation(codec: SimpleNamespace, setup: bytes, bad: bytes, code: int, known_at: int | None) -> None:
    after = frame(OP_TEXT, b"after") + frame(OP_CLOSE, close_payload(1000))
    # Whole, with valid frames behind it.
    reader = server(codec)
    assert reader.feed(setup) is not None
    with pytest.raises(ProtocolError) as info:
        reader.feed(bad + after)
    assert info.value.code == code
    assert info.value.reason and isinstance(info.value.reason, str)
    assert info.value.events == []
    assert reader.finished
    # Nothing after the error is parsed, not even valid frames.
    assert reader.feed(after) == []
    assert reader.feed(b"\xff" * 20) == []
    assert reader.finished
    # One byte at a time: refused as soon as the bytes give it away.
    reader = server(codec)
    reader.feed(setup)
    assert feed_until_error(reader, bad) == (len(bad) if known_at is None else known_at)
    assert reader.feed(after) == []


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(frame(OP_TEXT, b"x"), id="masked-text"),
        pytest.param(frame(OP_PONG, b""), id="masked-pong"),
        pytest.param(frame(OP_CLOSE, close_payload(1000)), id="masked-close"),
    ],
)
def test_masked_frame_from_a_server(codec: SimpleNamespace, bad: bytes) -> None:
    reader = client(codec)
    assert reader.feed(frame(OP_TEXT, b"fine", key=None)) == [text("fine")]
    with pytest.raises(ProtocolError) as info:
        reader.feed(bad)
    assert info.value.code == 1002
    assert feed_until_error(client(codec), bad) == 2


def test_allowed_rsv(codec: SimpleNamespace) -> None:
    # An extension may claim RSV1 on the first frame of a data message.
    reader = server(codec, allowed_rsv=RSV1)
    wire = frame(OP_BINARY, b"a", rsv=RSV1) + frame(OP_TEXT, b"b", rsv=RSV1, fin=False) + frame(OP_CONT, b"c")
    assert reader.feed(wire) == [binary(b"a"), text("bc")]
    # Only the bits it claims, only on data frames, not on continuations.
    for bad in (
        frame(OP_BINARY, b"a", rsv=RSV2),
        frame(OP_BINARY, b"a", rsv=RSV1 | RSV3),
        frame(OP_PING, b"", rsv=RSV1),
        frame(OP_CLOSE, b"", rsv=RSV1),
        frame(OP_BINARY, b"a", fin=False) + frame(OP_CONT, b"b", rsv=RSV1),
    ):
        with pytest.raises(ProtocolError) as info:
            server(codec, allowed_rsv=RSV1).feed(bad)
        assert info.value.code == 1002


def test_64_bit_length_top_bit_without_limit(codec: SimpleNamespace) -> None:
    # Not a size problem (1009) but a malformed header (1002), limit or not.
    reader = server(codec, max_message_size=None)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_BINARY, b"", length=1 << 63))
    assert info.value.code == 1002


@pytest.mark.parametrize(
    "fragments, bad",
    [
        ([b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", b"\xf4\x90\x80\x80", b"edited"], 1),
        ([b"ok \xed", b"\xa0\x80", b"more"], 1),  # a surrogate, cut after its lead byte
        ([b"ok \xe0", b"\x80\x80", b"more"], 1),  # an overlong form, likewise
        ([b"ok \xf0\x90", b"\x80", b"A", b"more"], 2),  # a missing continuation byte
        ([b"fine", b"fine", b"\xff", b"never"], 2),
        ([b"\xc0", b"never"], 0),
    ],
)
def test_invalid_utf8_fails_fast_across_fragments(codec: SimpleNamespace, fragments: list[bytes], bad: int) -> None:
    # The fragment holding the bad byte is refused, before the message ends
    # (RFC 6455 section 8.1; Autobahn 6.4).
    assert bad < len(fragments) - 1
    for step in (0, 1):
        reader = server(codec)
        for i, fragment in enumerate(fragments[:bad]):
            data = frame(OP_CONT if i else OP_TEXT, fragment, fin=False)
            assert (feed_step(reader, data, step) if step else reader.feed(data)) == []
        data = frame(OP_TEXT if bad == 0 else OP_CONT, fragments[bad], fin=False)
        with pytest.raises(ProtocolError) as info:
            feed_step(reader, data, step) if step else reader.feed(data)
        assert info.value.code == 1007
        assert reader.finished


def test_incomplete_code_point_at_the_end_of_a_fragmented_message(codec: SimpleNamespace) -> None:
    reader = server(codec)
    assert reader.feed(frame(OP_TEXT, b"ab\xf0\x9f", fin=False)) == []
    assert reader.feed(frame(OP_CONT, b"\x98", fin=False)) == []
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_CONT, b""))
    assert info.value.code == 1007


def test_valid_utf8_cut_at_every_byte(codec: SimpleNamespace) -> None:
    data = "aé€𝄞".encode()
    for cut in range(len(data) + 1):
        wire = frame(OP_TEXT, data[:cut], fin=False) + frame(OP_CONT, data[cut:])
        assert server(codec).feed(wire) == [text("aé€𝄞")], cut


# -- close frames ----------------------------------------------------------------

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 0xFFFF]


def test_close_without_payload(codec: SimpleNamespace) -> None:
    reader = server(codec)
    events = reader.feed(frame(OP_CLOSE))
    assert events == [CloseConnection(1005, "")]
    assert events[0].code == 1005 and events[0].reason == ""
    assert reader.finished and reader.buffered == 0


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_valid_codes(codec: SimpleNamespace, code: int) -> None:
    for reason in ("", "bye", "au revoir ✓ 𝄞", "r" * 123):
        wire = frame(OP_CLOSE, close_payload(code, reason.encode()))
        reader = server(codec)
        events = reader.feed(wire)
        assert events == [CloseConnection(code, reason)]
        check_types(events)
        assert feed_step(server(codec), wire, 1) == [CloseConnection(code, reason)]
    wire = frame(OP_CLOSE, close_payload(code, b"unmasked"), key=None)
    assert client(codec).feed(wire) == [CloseConnection(code, "unmasked")]


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_invalid_codes(codec: SimpleNamespace, code: int) -> None:
    reader = server(codec)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_CLOSE, close_payload(code, b"reason")))
    assert info.value.code == 1002
    assert reader.finished


@pytest.mark.parametrize(
    "reason", [b"\xff", b"ok\xc0\x80", b"\xed\xa0\x80", b"cut \xe2\x82", b"\x80", b"\xf4\x90\x80\x80"]
)
def test_close_invalid_utf8_reason(codec: SimpleNamespace, reason: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        server(codec).feed(frame(OP_CLOSE, close_payload(1000, reason)))
    assert info.value.code == 1007


def test_nothing_after_a_close_frame(codec: SimpleNamespace) -> None:
    reader = server(codec)
    wire = frame(OP_TEXT, b"before") + frame(OP_CLOSE, close_payload(1000)) + frame(OP_TEXT, b"after")
    assert reader.feed(wire + b"\xff\xff garbage") == [text("before"), CloseConnection(1000, "")]
    assert reader.finished and reader.buffered == 0
    assert reader.feed(frame(OP_TEXT, b"later")) == []
    assert reader.feed(b"\x00" * 100) == []  # not even garbage raises
    assert reader.buffered == 0
    # The same, one byte at a time.
    reader = server(codec)
    assert feed_step(reader, wire, 1) == [text("before"), CloseConnection(1000, "")]
    assert reader.buffered == 0


# -- ProtocolError.events ---------------------------------------------------------


def test_error_carries_the_events_before_the_bad_frame(codec: SimpleNamespace) -> None:
    reader = server(codec)
    assert reader.feed(frame(OP_TEXT, b"earlier feed")) == [text("earlier feed")]
    wire = (
        frame(OP_TEXT, b"first")
        + frame(OP_PING, b"p")
        + frame(OP_BINARY, b"frag", fin=False)  # never finished: no event
        + frame(OP_PONG, b"q")
        + frame(OP_CONT, b"ment")
        + frame(5, b"bad")
        + frame(OP_TEXT, b"never")
    )
    with pytest.raises(ProtocolError) as info:
        reader.feed(wire)
    assert info.value.code == 1002
    assert info.value.events == [text("first"), Ping(b"p"), Pong(b"q"), binary(b"fragment")]
    check_types(info.value.events)


def test_error_events_only_from_the_same_feed(codec: SimpleNamespace) -> None:
    reader = server(codec)
    bad = frame(OP_TEXT, b"\xff")
    assert reader.feed(frame(OP_TEXT, b"one") + bad[:3]) == [text("one")]
    with pytest.raises(ProtocolError) as info:
        reader.feed(bad[3:])
    assert info.value.events == []


def test_error_in_stream_mode_carries_delivered_frames(codec: SimpleNamespace) -> None:
    reader = server(codec, reassemble=False)
    wire = frame(OP_BINARY, b"a", fin=False) + frame(OP_CONT, b"b", fin=False) + frame(OP_TEXT, b"c")
    with pytest.raises(ProtocolError) as info:
        reader.feed(wire)
    assert info.value.code == 1002
    assert info.value.events == [binary(b"a", False), binary(b"b", False)]


def test_error_with_limit_carries_events(codec: SimpleNamespace) -> None:
    reader = server(codec, max_message_size=4)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(OP_BINARY, b"1234") + frame(OP_BINARY, b"12345"))
    assert info.value.code == 1009
    assert info.value.events == [binary(b"1234")]


# -- buffered ---------------------------------------------------------------------


def test_buffered_accounting(codec: SimpleNamespace) -> None:
    reader = server(codec)
    assert reader.buffered == 0
    first = frame(OP_TEXT, b"x" * 300, fin=False)  # 4-byte header, key, 300 bytes
    assert len(first) == 308
    reader.feed(first[:1])
    assert reader.buffered == 1
    reader.feed(first[1:200])
    assert reader.buffered == 200
    reader.feed(first[200:])
    assert reader.buffered == 300  # the fragment's payload, not its header
    second = frame(OP_CONT, b"y" * 50)
    reader.feed(second[:20])
    assert reader.buffered == 320
    assert reader.feed(second[20:]) == [text("x" * 300 + "y" * 50)]
    assert reader.buffered == 0
    # A complete frame and part of the next in one feed.
    reader.feed(frame(OP_PING, b"abc") + frame(OP_BINARY, b"zz")[:5])
    assert reader.buffered == 5


# -- FrameWriter -------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, header",
    [
        (0, "8200"),
        (1, "8201"),
        (125, "827d"),
        (126, "827e007e"),
        (127, "827e007f"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
        (70000, "827f0000000000011170"),
    ],
)
def test_writer_unmasked_exact(codec: SimpleNamespace, size: int, header: str) -> None:
    data = payload(size, 6)
    out = codec.frame_writer.FrameWriter(mask=False).frame(OP_BINARY, data)
    assert type(out) is bytes
    assert out == bytes.fromhex(header) + data


@pytest.mark.parametrize(
    "opcode, fin, rsv, first",
    [
        (OP_TEXT, True, 0, 0x81),
        (OP_TEXT, False, 0, 0x01),
        (OP_BINARY, True, 0, 0x82),
        (OP_CONT, False, 0, 0x00),
        (OP_CONT, True, 0, 0x80),
        (OP_CLOSE, True, 0, 0x88),
        (OP_PING, True, 0, 0x89),
        (OP_PONG, True, 0, 0x8A),
        (OP_TEXT, True, RSV1, 0xC1),
        (OP_BINARY, False, RSV1, 0x42),
        (OP_BINARY, True, RSV2, 0xA2),
        (OP_BINARY, True, RSV3, 0x92),
        (OP_TEXT, True, RSV1 | RSV2 | RSV3, 0xF1),
    ],
)
def test_writer_first_byte(codec: SimpleNamespace, opcode: int, fin: bool, rsv: int, first: int) -> None:
    out = codec.frame_writer.FrameWriter(mask=False).frame(opcode, b"abc", fin=fin, rsv=rsv)
    assert out == bytes([first, 3]) + b"abc"
    masked = codec.frame_writer.FrameWriter(mask=True).frame(opcode, b"abc", fin=fin, rsv=rsv)
    assert masked[0] == first and masked[1] == 0x83


def test_writer_buffer_kinds(codec: SimpleNamespace) -> None:
    for size in (3, 300, 70000):
        data = payload(size, 7)
        for kind in (bytes, bytearray, memoryview):
            source = kind(data) if kind is not memoryview else memoryview(bytearray(data))
            out = codec.frame_writer.FrameWriter(mask=False).frame(OP_BINARY, source)
            assert type(out) is bytes and out.endswith(data)
            masked = codec.frame_writer.FrameWriter(mask=True).frame(OP_BINARY, source)
            assert type(masked) is bytes
            assert bytes(source) == data  # masking copies, never in place
            assert server(codec, max_message_size=None).feed(masked) == [binary(data)]


@pytest.mark.parametrize(
    "size, header",
    [
        (0, "8280"),
        (5, "8285"),
        (125, "82fd"),
        (126, "82fe007e"),
        (65535, "82feffff"),
        (65536, "82ff0000000000010000"),
    ],
)
def test_writer_masked(codec: SimpleNamespace, size: int, header: str) -> None:
    data = payload(size, 8)
    out = codec.frame_writer.FrameWriter(mask=True).frame(OP_BINARY, data)
    head = bytes.fromhex(header)
    assert out[: len(head)] == head
    key = out[len(head) : len(head) + 4]
    body = out[len(head) + 4 :]
    assert len(body) == size
    assert mask(body, key) == data
    assert server(codec).feed(out) == [binary(data)]


def test_writer_fresh_key_per_frame(codec: SimpleNamespace) -> None:
    writer = codec.frame_writer.FrameWriter(mask=True)
    frames = [writer.frame(OP_TEXT, b"same payload") for _ in range(3000)]
    keys = [f[2:6] for f in frames]
    assert all(a != b for a, b in itertools.pairwise(keys))
    # Random 32-bit keys: a handful of repeats at most among 3000.
    assert len(set(keys)) > 2990
    # And unmasked content differs with the key while decoding the same.
    assert len({f[6:] for f in frames}) > 2990
    assert server(codec).feed(b"".join(frames[:100])) == [text("same payload")] * 100
    # Two writers do not share a key sequence.
    other = codec.frame_writer.FrameWriter(mask=True)
    assert [other.frame(OP_TEXT, b"")[2:6] for _ in range(10)] != keys[:10]


def test_writer_round_trip(codec: SimpleNamespace) -> None:
    for masked in (True, False):
        writer = codec.frame_writer.FrameWriter(mask=masked)
        reader = server(codec) if masked else client(codec)
        wire = (
            writer.frame(OP_TEXT, "héllo".encode())
            + writer.frame(OP_BINARY, payload(70000, 9), fin=False)
            + writer.frame(OP_PING, b"ping")
            + writer.frame(OP_CONT, b"tail")
            + writer.frame(OP_PONG, b"")
            + writer.close(4000, "done ✓")
        )
        assert reader.feed(wire) == [
            text("héllo"),
            Ping(b"ping"),
            binary(payload(70000, 9) + b"tail"),
            Pong(b""),
            CloseConnection(4000, "done ✓"),
        ]


@pytest.mark.parametrize(
    "args, expected",
    [
        ((1000, "bye"), "880503e8627965"),
        ((1000,), "880203e8"),
        ((1001, ""), "880203e9"),
        ((4999, "€"), "88051387e282ac"),
        ((3000, "r" * 123), "887d0bb8" + b"r".hex() * 123),
        ((None,), "8800"),
    ],
)
def test_writer_close_exact(codec: SimpleNamespace, args: tuple[Any, ...], expected: str) -> None:
    assert codec.frame_writer.FrameWriter(mask=False).close(*args) == bytes.fromhex(expected)


def test_writer_close_default(codec: SimpleNamespace) -> None:
    assert codec.frame_writer.FrameWriter(mask=False).close() == b"\x88\x02\x03\xe8"


def test_writer_close_masked(codec: SimpleNamespace) -> None:
    writer = codec.frame_writer.FrameWriter(mask=True)
    assert server(codec).feed(writer.close(1000, "bye")) == [CloseConnection(1000, "bye")]
    assert server(codec).feed(writer.close(None)) == [CloseConnection(1005, "")]
    out = writer.close(None)
    assert out[:2] == b"\x88\x80" and len(out) == 6


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 0, 1004, 1016, 2999, 5000, 65535, -1])
def test_writer_close_refuses_codes(codec: SimpleNamespace, code: int) -> None:
    with pytest.raises(ValueError):
        codec.frame_writer.FrameWriter(mask=False).close(code)
    with pytest.raises(ValueError):
        codec.frame_writer.FrameWriter(mask=True).close(code, "reason")


def test_writer_close_reason_length(codec: SimpleNamespace) -> None:
    writer = codec.frame_writer.FrameWriter(mask=False)
    assert len(writer.close(1000, "x" * 123)) == 2 + 125
    assert len(writer.close(1000, "€" * 41)) == 2 + 125  # 123 bytes of UTF-8
    for reason in ("x" * 124, "€" * 41 + "x", "€" * 42, "𝄞" * 31):
        with pytest.raises(ValueError):
            writer.close(1000, reason)
    with pytest.raises(ValueError):
        writer.close(None, "a reason without a code")


# -- independent implementations --------------------------------------------------------


def _websockets_frames(masked: bool) -> tuple[bytes, list[Event]]:
    from websockets.frames import Close, Frame, Opcode

    big = payload(100000, 10)
    sizes: list[tuple[Any, list[Event]]] = [
        (Frame(Opcode.BINARY, payload(n, 11)), [binary(payload(n, 11))]) for n in (125, 126, 65535, 65536)
    ]
    items: list[tuple[Any, list[Event]]] = [
        (Frame(Opcode.TEXT, "héllo €".encode()), [text("héllo €")]),
        (Frame(Opcode.BINARY, b""), [binary(b"")]),
        *sizes,
        (Frame(Opcode.PING, b"ping"), [Ping(b"ping")]),
        (Frame(Opcode.TEXT, b"frag", fin=False), []),
        (Frame(Opcode.PONG, b""), [Pong(b"")]),
        (Frame(Opcode.CONT, "ment ✓".encode()), [text("fragment ✓")]),
        (Frame(Opcode.BINARY, big[:50000], fin=False), []),
        (Frame(Opcode.CONT, big[50000:]), [binary(big)]),
        (Frame(Opcode.CLOSE, Close(1001, "going away").serialize()), [CloseConnection(1001, "going away")]),
    ]
    wire = b"".join(f.serialize(mask=masked, extensions=[]) for f, _ in items)
    return wire, [e for _, events in items for e in events]


@pytest.mark.parametrize("masked", [True, False], ids=["client-frames", "server-frames"])
def test_reads_websockets_frames(codec: SimpleNamespace, masked: bool) -> None:
    wire, expected = _websockets_frames(masked)
    make = server if masked else client
    assert make(codec).feed(wire) == expected
    rng = random.Random(11)
    for _ in range(5):
        assert feed_cuts(make(codec), wire, random_cuts(rng, len(wire), 60)) == expected


def test_reads_websockets_close_without_code(codec: SimpleNamespace) -> None:
    from websockets.frames import Frame, Opcode

    wire = Frame(Opcode.CLOSE, b"").serialize(mask=True, extensions=[])
    assert server(codec).feed(wire) == [CloseConnection(1005, "")]


@pytest.mark.parametrize("is_client", [True, False], ids=["client-frames", "server-frames"])
def test_reads_wsproto_frames(codec: SimpleNamespace, is_client: bool) -> None:
    from wsproto.frame_protocol import FrameProtocol

    proto = FrameProtocol(client=is_client, extensions=[])
    big = payload(70000, 12)
    wire = b"".join(
        bytes(part)
        for part in (
            proto.send_data("wsproto ✓"),
            proto.send_data(big),
            proto.send_data("par", fin=False),
            proto.ping(b"hi"),
            proto.send_data("ts"),
            proto.pong(b"ho"),
            proto.send_data(b"", fin=False),
            proto.send_data(b"z"),
            proto.close(1000, "bye"),
        )
    )
    expected = [
        text("wsproto ✓"),
        binary(big),
        Ping(b"hi"),
        text("parts"),
        Pong(b"ho"),
        binary(b"z"),
        CloseConnection(1000, "bye"),
    ]
    make = server if is_client else client
    assert make(codec).feed(wire) == expected
    assert feed_step(make(codec), wire, 1000) == expected


def _parse_with_websockets(wire: bytes, masked: bool) -> list[Any]:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    stream = StreamReader()
    stream.feed_data(wire)
    stream.feed_eof()
    frames = []
    while not _run(stream.at_eof()):
        frames.append(_run(Frame.parse(stream.read_exact, mask=masked, max_size=None, extensions=[])))
    return frames


def _run(coroutine: Any) -> Any:
    """Run one of websockets' generator-based coroutines on data already fed."""
    try:
        next(coroutine)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets wanted more bytes")


@pytest.mark.parametrize("masked", [True, False], ids=["client", "server"])
def test_websockets_reads_our_frames(codec: SimpleNamespace, masked: bool) -> None:
    from websockets.frames import Close, Opcode

    writer = codec.frame_writer.FrameWriter(mask=masked)
    sent: list[tuple[Any, bytes, bool]] = [
        (Opcode.TEXT, "ok ✓".encode(), True),
        (Opcode.BINARY, b"", True),
        *[(Opcode.BINARY, payload(n, 13), True) for n in (125, 126, 65535, 65536, 100000)],
        (Opcode.TEXT, b"frag", False),
        (Opcode.PING, b"p" * 125, True),
        (Opcode.CONT, b"ment", True),
        (Opcode.PONG, b"", True),
    ]
    wire = b"".join(writer.frame(int(op), data, fin=fin) for op, data, fin in sent)
    wire += writer.close(3001, "bye ✓")
    parsed = _parse_with_websockets(wire, masked)
    assert [(f.opcode, bytes(f.data), f.fin) for f in parsed[:-1]] == sent
    assert not any(f.rsv1 or f.rsv2 or f.rsv3 for f in parsed)
    assert parsed[-1].opcode is Opcode.CLOSE
    close = Close.parse(parsed[-1].data)
    assert (close.code, close.reason) == (3001, "bye ✓")


def test_websockets_reads_our_empty_close(codec: SimpleNamespace) -> None:
    from websockets.frames import Opcode

    (parsed,) = _parse_with_websockets(codec.frame_writer.FrameWriter(mask=True).close(None), True)
    assert parsed.opcode is Opcode.CLOSE and parsed.data == b""


@pytest.mark.parametrize("masked", [True, False], ids=["client", "server"])
def test_wsproto_reads_our_frames(codec: SimpleNamespace, masked: bool) -> None:
    from wsproto.frame_protocol import FrameProtocol, Opcode

    # A wsproto server reads what our client writes, and the other way round.
    proto = FrameProtocol(client=not masked, extensions=[])
    writer = codec.frame_writer.FrameWriter(mask=masked)
    big = payload(70000, 14)
    proto.receive_bytes(
        writer.frame(OP_TEXT, "d€".encode()[:2], fin=False)
        + writer.frame(OP_PING, b"x")
        + writer.frame(OP_CONT, "d€".encode()[2:])
        + writer.frame(OP_BINARY, big)
        + writer.close(1000, "bye")
    )
    frames: list[Any] = [(f.opcode, f.payload, f.frame_finished, f.message_finished) for f in proto.received_frames()]
    assert frames[0][0] is Opcode.TEXT and frames[0][3] is False
    assert frames[1] == (Opcode.PING, b"x", True, True)
    assert frames[2][0] is Opcode.TEXT and frames[2][3] is True
    assert frames[0][1] + frames[2][1] == "d€"
    assert frames[3] == (Opcode.BINARY, big, True, True)
    assert frames[4][0] is Opcode.CLOSE and tuple(frames[4][1]) == (1000, "bye")
