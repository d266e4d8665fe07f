"""The frame codec against RFC 6455 sections 5 and 8, for both implementations.

Frames are built by hand here (``frame()`` below), not with our writer, so
the reader is not only checked against ourselves.
"""

from __future__ import annotations

import os
import struct
from types import SimpleNamespace
from typing import List, Optional

import pytest
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from asyncwebsockets.exceptions import ProtocolError

KEY = b"\x37\xfa\x21\x3d"


def mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: Optional[bytes] = KEY,
    length: Optional[int] = None,
) -> bytes:
    """A frame, byte by byte as RFC 6455 section 5.2 draws it."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if key is not None else 0
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if key is None:
        return header + payload
    return header + key + mask(payload, key)


def feed_all(reader: object, data: bytes, step: int = 0) -> List[object]:
    if not step:
        return list(reader.feed(data))  # type: ignore[attr-defined]
    events: List[object] = []
    for i in range(0, len(data), step):
        events += reader.feed(data[i : i + step])  # type: ignore[attr-defined]
    return events


def server_reader(codec: SimpleNamespace, **kwargs: object) -> object:
    return codec.frames.FrameReader(expect_masked=True, **kwargs)


# -- masking -----------------------------------------------------------------


def test_mask_rfc_example(codec: SimpleNamespace) -> None:
    # RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d.
    assert codec.mask.apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")


@pytest.mark.parametrize("size", list(range(0, 41)) + [4095, 4096, 4097, 65535, 65536, 1 << 20])
@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_mask_sizes_and_offsets(codec: SimpleNamespace, size: int, offset: int) -> None:
    data = os.urandom(size)
    key = os.urandom(4)
    rotated = key[offset:] + key[:offset]
    expected = mask(data, rotated) if size < 5000 else None
    out = codec.mask.apply_mask(data, key, offset)
    if expected is not None:
        assert out == expected
    assert codec.mask.apply_mask(out, key, offset) == data
    buf = bytearray(data)
    codec.mask.apply_mask_inplace(buf, key, offset)
    assert bytes(buf) == out
    view = memoryview(bytearray(data))
    codec.mask.apply_mask_inplace(view, key, offset)
    assert bytes(view) == out


def test_mask_split_payload_with_offset(codec: SimpleNamespace) -> None:
    data = os.urandom(1001)
    key = os.urandom(4)
    whole = codec.mask.apply_mask(data, key)
    pieces = codec.mask.apply_mask(data[:7], key) + codec.mask.apply_mask(data[7:], key, 7)
    assert pieces == whole


def test_mask_errors(codec: SimpleNamespace) -> None:
    with pytest.raises(ValueError):
        codec.mask.apply_mask(b"data", b"abc")
    with pytest.raises(ValueError):
        codec.mask.apply_mask(b"data", b"abcde")
    with pytest.raises(TypeError):
        codec.mask.apply_mask_inplace(b"read-only", KEY)


# -- UTF-8 -------------------------------------------------------------------

VALID_UTF8 = [
    b"",
    b"plain ascii",
    "κόσμε".encode(),
    "\u0800\uffff".encode(),
    "\U00010000\U0010ffff".encode(),
    "mixed € and 𝄞 and ü".encode() * 10,
]
INVALID_UTF8 = [
    b"\xc0\x80",  # overlong NUL
    b"\xe0\x80\x80",  # overlong
    b"\xf0\x80\x80\x80",  # overlong
    b"\xed\xa0\x80",  # UTF-16 surrogate
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\x80",  # lone continuation
    b"abc\xce",  # truncated at the end
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
]


@pytest.mark.parametrize("data", VALID_UTF8)
def test_utf8_valid(codec: SimpleNamespace, data: bytes) -> None:
    assert codec.utf8.is_utf8(data)
    validator = codec.utf8.Utf8Validator()
    for i in range(len(data)):
        assert validator.feed(data[i : i + 1])
    assert validator.feed(b"", True)


@pytest.mark.parametrize("data", INVALID_UTF8)
def test_utf8_invalid(codec: SimpleNamespace, data: bytes) -> None:
    assert not codec.utf8.is_utf8(data)
    assert not codec.utf8.Utf8Validator().feed(data, True)


@pytest.mark.parametrize(
    "data, bad_at",
    [
        (b"ab\xc0", 2),
        (b"\xe0\x9f", 1),
        (b"\xed\xa0", 1),
        (b"\xf0\x8f", 1),
        (b"\xf4\x90", 1),
        (b"\xce\xba\xf5", 2),
        (b"\xe2\x82\x41", 2),
    ],
)
def test_utf8_fails_fast(codec: SimpleNamespace, data: bytes, bad_at: int) -> None:
    # Fed one byte at a time, the validator says no at the first byte that
    # no continuation could make valid (Autobahn's "fail fast" cases).
    validator = codec.utf8.Utf8Validator()
    for i, byte in enumerate(data):
        assert validator.feed(bytes([byte])) == (i < bad_at), i


def test_utf8_reset(codec: SimpleNamespace) -> None:
    validator = codec.utf8.Utf8Validator()
    assert not validator.feed(b"\xff")
    assert not validator.feed(b"a")
    validator.reset()
    assert validator.feed(b"a", True)


# -- reading frames ---------------------------------------------------------


def test_rfc_examples(codec: SimpleNamespace) -> None:
    client = codec.frames.FrameReader(expect_masked=False)
    # RFC 6455 section 5.7, unmasked, fragmented and ping examples.
    data = bytes.fromhex("810548656c6c6f") + bytes.fromhex("010348656c") + bytes.fromhex("80026c6f")
    data += bytes.fromhex("890548656c6c6f")
    assert client.feed(data) == [TextMessage("Hello"), TextMessage("Hello"), Ping(b"Hello")]
    server = server_reader(codec)
    masked = bytes.fromhex("818537fa213d7f9f4d5158") + bytes.fromhex("8a8537fa213d7f9f4d5158")
    assert server.feed(masked) == [TextMessage("Hello"), Pong(b"Hello")]


@pytest.mark.parametrize(
    "size, step",
    [(size, step) for size in (0, 125, 126, 256, 65535, 65536, 200000) for step in (0, 1, 7, 4096) if size < 70000 or step != 1],
)
def test_lengths_and_chunking(codec: SimpleNamespace, size: int, step: int) -> None:
    payload = os.urandom(size)
    reader = server_reader(codec)
    events = feed_all(reader, frame(2, payload) + frame(1, b"after"), step)
    assert events == [BytesMessage(payload), TextMessage("after")]
    assert type(events[0].data) is bytes  # type: ignore[attr-defined]
    assert reader.buffered == 0  # type: ignore[attr-defined]


def test_fragmented_with_interleaved_control(codec: SimpleNamespace) -> None:
    text = "fragments € 𝄞".encode()
    data = (
        frame(1, text[:5], fin=False)
        + frame(9, b"ping")
        + frame(0, text[5:13], fin=False)
        + frame(10, b"pong")
        + frame(0, text[13:])
    )
    for step in (0, 1, 3):
        events = feed_all(server_reader(codec), data, step)
        assert events == [Ping(b"ping"), Pong(b"pong"), TextMessage(text.decode())]


def test_stream_mode(codec: SimpleNamespace) -> None:
    text = "ab€cd".encode()  # the euro sign straddles the two frames
    data = frame(1, text[:3], fin=False) + frame(0, text[3:]) + frame(2, b"x", fin=False) + frame(0, b"y")
    events = feed_all(server_reader(codec, reassemble=False), data, 1)
    assert events == [
        TextMessage("ab", True, False),
        TextMessage("€cd", True, True),
        BytesMessage(b"x", True, False),
        BytesMessage(b"y", True, True),
    ]


def test_max_message_size(codec: SimpleNamespace) -> None:
    reader = server_reader(codec, max_message_size=10)
    assert reader.feed(frame(2, b"x" * 10)) == [BytesMessage(b"x" * 10)]
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(2, b"x" * 11))
    assert info.value.code == 1009
    # Fragments add up.
    reader = server_reader(codec, max_message_size=10)
    reader.feed(frame(2, b"x" * 6, fin=False))
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(0, b"x" * 5))
    assert info.value.code == 1009


def test_huge_length_refused_from_header(codec: SimpleNamespace) -> None:
    # Only the header of a 1 GiB frame: refused before any payload arrives.
    reader = server_reader(codec)
    header = frame(2, b"", length=1 << 30)[:14]
    with pytest.raises(ProtocolError) as info:
        reader.feed(header)
    assert info.value.code == 1009
    assert reader.buffered == 0 and reader.finished


def test_no_limit(codec: SimpleNamespace) -> None:
    reader = server_reader(codec, max_message_size=None)
    payload = os.urandom(3 << 20)
    assert reader.feed(frame(2, payload)) == [BytesMessage(payload)]


@pytest.mark.parametrize(
    "data, code",
    [
        (frame(1, b"x", rsv=0x40), 1002),
        (frame(1, b"x", rsv=0x20), 1002),
        (frame(1, b"x", rsv=0x10), 1002),
        (frame(3, b"x"), 1002),
        (frame(7, b"x"), 1002),
        (frame(11, b"x"), 1002),
        (frame(15, b"x"), 1002),
        (frame(9, b"x" * 126), 1002),
        (frame(9, b"x", fin=False), 1002),
        (frame(8, b"\x03\xe8", fin=False), 1002),
        (frame(1, b"x", key=None), 1002),
        (frame(0, b"x"), 1002),
        (frame(1, b"a", fin=False) + frame(2, b"b"), 1002),
        (frame(2, b"", length=1 << 63)[:14], 1002),
        (frame(1, b"\xff"), 1007),
        (frame(1, "ok".encode() + b"\xed\xa0\x80"), 1007),
        (frame(8, b"\x03"), 1002),
        (frame(8, b"\x03\xe8\xff"), 1007),
    ],
)
def test_violations(codec: SimpleNamespace, data: bytes, code: int) -> None:
    for step in (0, 1):
        reader = server_reader(codec)
        with pytest.raises(ProtocolError) as info:
            feed_all(reader, data, step)
        assert info.value.code == code
        assert reader.finished
        assert reader.feed(frame(1, b"ignored")) == []


def test_masked_frame_from_server(codec: SimpleNamespace) -> None:
    reader = codec.frames.FrameReader(expect_masked=False)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(1, b"x"))
    assert info.value.code == 1002


def test_allowed_rsv(codec: SimpleNamespace) -> None:
    reader = server_reader(codec, allowed_rsv=0x40)
    assert reader.feed(frame(2, b"x", rsv=0x40)) == [BytesMessage(b"x")]


def test_fragmented_invalid_utf8_fails_fast(codec: SimpleNamespace) -> None:
    reader = server_reader(codec)
    assert reader.feed(frame(1, b"valid", fin=False)) == []
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(0, b"\xf4\x90", fin=False))
    assert info.value.code == 1007


def test_incomplete_utf8_at_message_end(codec: SimpleNamespace) -> None:
    reader = server_reader(codec)
    reader.feed(frame(1, b"ab\xe2\x82", fin=False))
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(0, b""))
    assert info.value.code == 1007


def test_error_keeps_earlier_events(codec: SimpleNamespace) -> None:
    reader = server_reader(codec)
    with pytest.raises(ProtocolError) as info:
        reader.feed(frame(1, b"first") + frame(9, b"p") + frame(3, b"bad") + frame(1, b"never"))
    assert info.value.events == [TextMessage("first"), Ping(b"p")]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_close_valid_codes(codec: SimpleNamespace, code: int) -> None:
    reader = server_reader(codec)
    events = reader.feed(frame(8, struct.pack("!H", code) + "au revoir ✓".encode()) + frame(1, b"after"))
    assert events == [CloseConnection(code, "au revoir ✓")]
    assert reader.finished
    assert reader.feed(frame(1, b"more")) == []


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_close_invalid_codes(codec: SimpleNamespace, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        server_reader(codec).feed(frame(8, struct.pack("!H", code)))
    assert info.value.code == 1002


def test_close_without_code(codec: SimpleNamespace) -> None:
    assert server_reader(codec).feed(frame(8)) == [CloseConnection(1005, "")]


def test_buffered_counts_partial_input(codec: SimpleNamespace) -> None:
    reader = server_reader(codec)
    data = frame(2, b"x" * 1000, fin=False)
    reader.feed(data[:500])
    assert reader.buffered == 500
    reader.feed(data[500:])
    assert reader.buffered == 1000  # the fragment, held for the message


# -- writing frames ---------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_writer_unmasked_exact(codec: SimpleNamespace, size: int) -> None:
    payload = os.urandom(size)
    out = codec.frames.FrameWriter(mask=False).frame(2, payload)
    assert out == frame(2, payload, key=None)


def test_writer_bits(codec: SimpleNamespace) -> None:
    writer = codec.frames.FrameWriter(mask=False)
    assert writer.frame(1, b"a", fin=False)[0] == 0x01
    assert writer.frame(0, b"a", rsv=0x40)[0] == 0xC0


def test_writer_masked_round_trip(codec: SimpleNamespace) -> None:
    writer = codec.frames.FrameWriter(mask=True)
    first = writer.frame(2, b"same payload")
    second = writer.frame(2, b"same payload")
    assert first[2:6] != second[2:6]  # a fresh key per frame
    assert server_reader(codec).feed(first + second) == [BytesMessage(b"same payload")] * 2
    assert first[1] & 0x80


def test_writer_close(codec: SimpleNamespace) -> None:
    writer = codec.frames.FrameWriter(mask=False)
    assert writer.close(1000, "bye") == b"\x88\x05\x03\xe8bye"
    assert writer.close(None) == b"\x88\x00"
    for code in (1005, 1006, 1015, 999, 2000):
        with pytest.raises(ValueError):
            writer.close(code)
    with pytest.raises(ValueError):
        writer.close(1000, "x" * 124)
    with pytest.raises(ValueError):
        writer.close(None, "reason without code")


# -- against independent implementations ------------------------------------


def test_reads_websockets_frames(codec: SimpleNamespace) -> None:
    from websockets.frames import Frame, Opcode

    data = b"".join(
        Frame(opcode, payload, fin).serialize(mask=True)
        for opcode, payload, fin in [
            (Opcode.TEXT, "héllo".encode(), True),
            (Opcode.BINARY, os.urandom(70000), True),
            (Opcode.PING, b"abc", True),
            (Opcode.TEXT, b"frag", False),
            (Opcode.CONT, b"ment", True),
        ]
    )
    events = server_reader(codec).feed(data)
    assert [type(e) for e in events] == [TextMessage, BytesMessage, Ping, TextMessage]
    assert events[0].data == "héllo" and events[3].data == "fragment"  # type: ignore[attr-defined]


def test_reads_wsproto_frames(codec: SimpleNamespace) -> None:
    from wsproto.frame_protocol import FrameProtocol

    proto = FrameProtocol(client=True, extensions=[])
    data = proto.send_data("wsproto text") + proto.send_data(b"\x00" * 300) + proto.ping(b"hi")
    assert server_reader(codec).feed(data) == [TextMessage("wsproto text"), BytesMessage(b"\x00" * 300), Ping(b"hi")]


def test_websockets_reads_ours(codec: SimpleNamespace) -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    writer = codec.frames.FrameWriter(mask=True)
    payload = os.urandom(70000)
    stream = StreamReader()
    stream.feed_data(writer.frame(2, payload) + writer.frame(1, "ok ✓".encode()))
    stream.feed_eof()
    parsed = []
    for _ in range(2):
        gen = Frame.parse(stream.read_exact, mask=True)
        try:
            next(gen)
        except StopIteration as done:
            parsed.append(done.value)
    assert parsed[0].opcode is Opcode.BINARY and parsed[0].data == payload
    assert parsed[1].opcode is Opcode.TEXT and parsed[1].data == "ok ✓".encode()
