"""Compressed messages (RFC 7692 section 7.2): the deflater, the inflater and the frame readers.

The readers are tested with both implementations (the ``codec`` fixture),
against the byte-exact examples of RFC 7692 section 7.2.3, against zlib
used directly, and against each other on random input.
"""

from __future__ import annotations

import os
import zlib
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import (
    PerMessageDeflate,
    Websocket,
    _speedups,
    open_websocket,
    serve,
)
from asyncwebsockets.connection import Connection
from asyncwebsockets.deflate import MessageDeflater, MessageInflater, codecs_for
from asyncwebsockets.exceptions import ProtocolError

from .helpers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    REQUIRE_COMPILED,
    RSV1,
    RSV2,
    frame,
)

TAIL = b"\x00\x00\xff\xff"

#: "Hello" compressed, as in RFC 7692 section 7.2.3.1.
HELLO = bytes.fromhex("f248cdc9c90700")
#: "Hello" again, using the first message's window (section 7.2.3.2).
HELLO_AGAIN = bytes.fromhex("f200110000")


def reader(codec: SimpleNamespace, inflater: MessageInflater | None = None, **options: Any) -> Any:
    """A server's reader (the frames it reads are masked) that inflates compressed messages."""
    return codec.frames.FrameReader(
        expect_masked=True, inflater=MessageInflater() if inflater is None else inflater, **options
    )


def failure(read: Any, data: bytes) -> tuple[int, list[Any]]:
    with pytest.raises(ProtocolError) as info:
        read.feed(data)
    return info.value.code, info.value.events


def raw_inflate(data: bytes) -> bytes:
    """Decompress a message payload with zlib alone, as any peer would."""
    return zlib.decompressobj(-15).decompress(data + TAIL)


# -- the deflater ----------------------------------------------------------------


def test_deflater_matches_the_rfc_examples() -> None:
    deflater = MessageDeflater()
    assert deflater.compress(b"Hello") == HELLO
    assert deflater.compress(b"Hello") == HELLO_AGAIN


def test_deflater_without_context_takeover_starts_afresh() -> None:
    deflater = MessageDeflater(no_context_takeover=True)
    assert deflater.compress(b"Hello") == HELLO
    assert deflater.compress(b"Hello") == HELLO
    # Each message stands alone: a fresh decompressor reads it.
    text = os.urandom(500) * 4
    first, second = deflater.compress(text), deflater.compress(text)
    assert first == second
    assert raw_inflate(second) == text


def test_deflater_output_is_plain_deflate() -> None:
    deflater = MessageDeflater()
    messages = [b"", b"a", os.urandom(3000), b"abc" * 10000, bytearray(b"x" * 70000), memoryview(b"yz" * 50)]
    decompressor = zlib.decompressobj(-15)
    for message in messages:
        payload = deflater.compress(message)
        assert not payload.endswith(TAIL)
        assert decompressor.decompress(payload + TAIL) == bytes(message)
    # An empty message is a single empty block (RFC 7692 section 7.2.3.6).
    assert MessageDeflater().compress(b"") == b"\x00"


@pytest.mark.parametrize("bits", range(8, 16))
def test_window_bits(bits: int) -> None:
    """Every window size works; 8 is compressed with 9 and still fits a 256-byte window."""
    data = bytes(range(256)) * 40 + os.urandom(600) * 5
    payload = MessageDeflater(window_bits=bits).compress(data)
    inflater = zlib.decompressobj(-bits) if bits > 8 else zlib.decompressobj(-8)
    assert inflater.decompress(payload + TAIL) == data
    assert MessageInflater(window_bits=bits).inflate(payload, True, -1) == data


# -- the inflater ----------------------------------------------------------------


def test_inflater_keeps_its_window() -> None:
    inflater = MessageInflater()
    assert inflater.inflate(HELLO, True, -1) == b"Hello"
    assert inflater.inflate(HELLO_AGAIN, True, -1) == b"Hello"


def test_inflater_without_context_takeover_forgets() -> None:
    inflater = MessageInflater(no_context_takeover=True)
    assert inflater.inflate(HELLO, True, -1) == b"Hello"
    # The second message refers to the first one's window, which is gone.
    with pytest.raises(ProtocolError) as info:
        inflater.inflate(HELLO_AGAIN, True, -1)
    assert info.value.code == 1007


def test_inflater_limit() -> None:
    data = b"\x00" * 100_000
    payload = MessageDeflater().compress(data)
    assert MessageInflater().inflate(payload, True, 100_000) == data
    with pytest.raises(ProtocolError) as info:
        MessageInflater().inflate(payload, True, 99_999)
    assert info.value.code == 1009
    # A message already at its limit may still end with an empty block.
    assert MessageInflater().inflate(MessageDeflater().compress(b""), True, 0) == b""
    with pytest.raises(ProtocolError):
        MessageInflater().inflate(HELLO, True, 0)


def test_codecs_for_each_side() -> None:
    agreed = PerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=9)
    # The client compresses with its own window, keeping its context...
    client_deflater, client_inflater = codecs_for(agreed, client=True)
    server_deflater, server_inflater = codecs_for(agreed, client=False)
    data = os.urandom(200) * 3
    assert client_deflater.compress(data) != client_deflater.compress(data)  # context kept
    # ... the server forgets its context after each message.
    assert server_deflater.compress(data) == server_deflater.compress(data)
    assert client_inflater.inflate(server_deflater.compress(data), True, -1) == data
    assert server_inflater.inflate(MessageDeflater(window_bits=9).compress(data), True, -1) == data


# -- the frame readers ----------------------------------------------------------------


def test_rfc_examples(codec: SimpleNamespace) -> None:
    read = reader(codec)
    # Section 7.2.3.1: one frame, then the same message in two fragments.
    assert read.feed(frame(OP_TEXT, HELLO, rsv=RSV1)) == [TextMessage("Hello")]
    read = reader(codec)
    wire = frame(OP_TEXT, HELLO[:3], rsv=RSV1, fin=False) + frame(OP_CONT, HELLO[3:])
    assert read.feed(wire) == [TextMessage("Hello")]
    # Section 7.2.3.2: the second message uses the first one's window.
    assert read.feed(frame(OP_TEXT, HELLO_AGAIN, rsv=RSV1)) == [TextMessage("Hello")]
    # Section 7.2.3.3: a stored block; 7.2.3.4: a final block.
    read = reader(codec)
    stored = bytes.fromhex("0005 00faff 48656c6c6f 00".replace(" ", ""))
    assert read.feed(frame(OP_TEXT, stored, rsv=RSV1)) == [TextMessage("Hello")]
    final = bytes.fromhex("f348cdc9c9070000")
    assert read.feed(frame(OP_TEXT, final, rsv=RSV1)) == [TextMessage("Hello")]
    # After a final block, the next message starts a new stream.
    assert read.feed(frame(OP_BINARY, HELLO, rsv=RSV1)) == [BytesMessage(b"Hello")]


def test_compressed_and_plain_messages_mix(codec: SimpleNamespace) -> None:
    deflater = MessageDeflater()
    read = reader(codec)
    big = os.urandom(1000) * 100
    wire = (
        frame(OP_BINARY, deflater.compress(big), rsv=RSV1)
        + frame(OP_TEXT, b"plain")
        + frame(OP_PING, b"p")
        + frame(OP_TEXT, deflater.compress("héllo ✓".encode()), rsv=RSV1)
        + frame(OP_BINARY, b"plain too", fin=False)
        + frame(OP_CONT, b"!")
    )
    events = read.feed(wire)
    assert [getattr(e, "data", getattr(e, "payload", None)) for e in events] == [
        big,
        "plain",
        b"p",
        "héllo ✓",
        b"plain too!",
    ]


def test_large_compressed_frames_in_pieces(codec: SimpleNamespace) -> None:
    """Compressed frames bigger than a read are decompressed once whole, whatever the cuts."""
    deflater = MessageDeflater()
    noise = os.urandom(200_000)  # does not compress: the frame stays large
    prose = ("grüße 𝄞 " * 30_000).encode()
    first = deflater.compress(noise)
    second = deflater.compress(prose)
    third = deflater.compress(noise[:100_000])
    wire = (
        frame(OP_BINARY, first, rsv=RSV1)
        + frame(OP_TEXT, second[:20_000], rsv=RSV1, fin=False)
        + frame(OP_PING, b"p")
        + frame(OP_CONT, second[20_000:])
        + frame(OP_BINARY, third, rsv=RSV1)
        + frame(OP_BINARY, noise[:30_000])
    )
    expected = [noise, b"p", prose.decode(), noise[:100_000], noise[:30_000]]
    for step in (999, 4096, 65536, len(wire)):
        read = reader(codec, max_message_size=None)
        events: list[Any] = []
        for start in range(0, len(wire), step):
            events += read.feed(wire[start : start + step])
        assert [getattr(e, "data", getattr(e, "payload", None)) for e in events] == expected
        assert read.buffered == 0


def test_compressed_fragments_with_control_frames_between(codec: SimpleNamespace) -> None:
    payload = MessageDeflater().compress("fragmented ✓".encode() * 100)
    a, b = len(payload) // 3, 2 * len(payload) // 3
    wire = (
        frame(OP_TEXT, payload[:a], rsv=RSV1, fin=False)
        + frame(OP_PONG, b"between")
        + frame(OP_CONT, payload[a:b], fin=False)
        + frame(OP_CONT, payload[b:])
    )
    events = reader(codec).feed(wire)
    assert events[1] == TextMessage("fragmented ✓" * 100)


def test_frame_by_frame(codec: SimpleNamespace) -> None:
    text = "déjà vu " * 2000
    payload = MessageDeflater().compress(text.encode())
    half = len(payload) // 2
    wire = frame(OP_TEXT, payload[:half], rsv=RSV1, fin=False) + frame(OP_CONT, payload[half:])
    events = reader(codec, reassemble=False).feed(wire)
    assert [e.message_finished for e in events] == [False, True]
    assert "".join(e.data for e in events) == text


@pytest.mark.parametrize(
    "wire",
    [
        frame(OP_PING, b"", rsv=RSV1),
        frame(OP_PONG, b"", rsv=RSV1),
        frame(OP_CLOSE, b"", rsv=RSV1),
        frame(OP_TEXT, HELLO[:3], rsv=RSV1, fin=False) + frame(OP_CONT, HELLO[3:], rsv=RSV1),
        frame(OP_TEXT, b"Hel", fin=False) + frame(OP_CONT, b"lo", rsv=RSV1),
        frame(OP_TEXT, HELLO, rsv=RSV2),
        frame(OP_TEXT, HELLO, rsv=RSV1 | RSV2),
    ],
)
def test_reserved_bits_where_they_do_not_belong(codec: SimpleNamespace, wire: bytes) -> None:
    assert failure(reader(codec), wire)[0] == 1002


def test_rsv1_without_the_extension(codec: SimpleNamespace) -> None:
    read = codec.frames.FrameReader(expect_masked=True)
    assert failure(read, frame(OP_TEXT, HELLO, rsv=RSV1))[0] == 1002


def test_corrupt_data(codec: SimpleNamespace) -> None:
    # 0xff starts a block of the reserved type 3.
    assert failure(reader(codec), frame(OP_BINARY, b"\xff\xff\xff", rsv=RSV1))[0] == 1007
    # Messages before the bad one are kept.
    code, events = failure(reader(codec), frame(OP_TEXT, HELLO, rsv=RSV1) + frame(OP_TEXT, b"\x07garbage", rsv=RSV1))
    assert (code, events) == (1007, [TextMessage("Hello")])


def test_invalid_utf8_once_decompressed(codec: SimpleNamespace) -> None:
    bad = MessageDeflater().compress(b"ok \xff not ok")
    assert failure(reader(codec), frame(OP_TEXT, bad, rsv=RSV1))[0] == 1007
    # Split between fragments as well.
    deflater = MessageDeflater()
    bad = deflater.compress("é".encode()[:1] + b"x" * 1000)
    wire = frame(OP_TEXT, bad[:4], rsv=RSV1, fin=False) + frame(OP_CONT, bad[4:])
    assert failure(reader(codec), wire)[0] == 1007


@pytest.mark.parametrize("reassemble", [True, False])
def test_deflate_bomb(codec: SimpleNamespace, reassemble: bool) -> None:
    """A few kilobytes that inflate to 64 MiB fail with 1009, having held no more than the limit."""
    limit = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = b"".join(compressor.compress(b"\x00" * (1 << 20)) for _ in range(64)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 100_000
    read = reader(codec, max_message_size=limit, reassemble=reassemble)
    code, events = failure(read, frame(OP_BINARY, bomb[:-4], rsv=RSV1))
    assert (code, events) == (1009, [])
    assert read.finished


def test_limit_on_the_decompressed_size(codec: SimpleNamespace) -> None:
    data = b"a" * 5000
    payload = MessageDeflater().compress(data)
    assert reader(codec, max_message_size=5000).feed(frame(OP_BINARY, payload, rsv=RSV1)) == [BytesMessage(data)]
    assert failure(reader(codec, max_message_size=4999), frame(OP_BINARY, payload, rsv=RSV1))[0] == 1009
    # Over several fragments, the total counts.
    wire = frame(OP_BINARY, payload[:5], rsv=RSV1, fin=False) + frame(OP_CONT, payload[5:])
    assert reader(codec, max_message_size=5000).feed(wire) == [BytesMessage(data)]
    assert failure(reader(codec, max_message_size=4999), wire)[0] == 1009
    # Frame by frame, each frame counts alone.
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(b"b" * 3000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = (compressor.compress(b"b" * 3000) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    events = reader(codec, max_message_size=3000, reassemble=False).feed(
        frame(OP_BINARY, first, rsv=RSV1, fin=False) + frame(OP_CONT, second)
    )
    assert [len(e.data) for e in events] == [3000, 3000]


def test_compressed_frame_size_limit(codec: SimpleNamespace) -> None:
    # Incompressible data grows a little when compressed; a message within
    # the limit is not refused for that.
    data = os.urandom(100_000)
    payload = MessageDeflater().compress(data)
    assert len(payload) > len(data)
    read = reader(codec, max_message_size=len(data))
    assert read.feed(frame(OP_BINARY, payload, rsv=RSV1)) == [BytesMessage(data)]
    # A compressed frame far over the limit is refused by its header alone.
    header = frame(OP_BINARY, b"", rsv=RSV1, length=10 << 20)[:14]
    read = reader(codec, max_message_size=1 << 20)
    assert failure(read, header)[0] == 1009
    # An uncompressed frame gets no margin.
    assert failure(reader(codec, max_message_size=len(data)), frame(OP_BINARY, data + b"!"))[0] == 1009


def test_allowed_rsv_without_inflater_passes_payload_through(codec: SimpleNamespace) -> None:
    read = codec.frames.FrameReader(expect_masked=True, allowed_rsv=RSV1, max_message_size=3)
    assert read.feed(frame(OP_BINARY, HELLO[:3], rsv=RSV1)) == [BytesMessage(HELLO[:3])]
    assert failure(read, frame(OP_BINARY, HELLO, rsv=RSV1))[0] == 1009


# -- the connection ------------------------------------------------------------------


def open_pair(client_settings: PerMessageDeflate, server_settings: PerMessageDeflate) -> tuple[Connection, Connection]:
    client = Connection(ConnectionType.CLIENT, compression=client_settings)
    server = Connection(ConnectionType.SERVER, compression=server_settings)
    server.receive_data(client.initiate("example.com", "/"))
    client.receive_data(server.accept())
    return client, server


def test_connection_sends_whole_messages_compressed(codec: SimpleNamespace) -> None:
    client, server = open_pair(PerMessageDeflate(), PerMessageDeflate())
    assert client.compression == server.compression == PerMessageDeflate()
    data = client.send_message("compressible " * 100)
    assert data[0] == 0x80 | RSV1 | OP_TEXT
    assert len(data) < 100
    assert server.receive_data(data) == [TextMessage("compressible " * 100)]
    reply = server.send_message(b"\x00" * 10_000)
    assert reply[0] == 0x80 | RSV1 | OP_BINARY
    assert client.receive_data(reply) == [BytesMessage(b"\x00" * 10_000)]
    # Fragmented messages go uncompressed, RSV1 clear on every frame.
    first, last = client.send_message("a" * 100, final=False), client.send_message("b" * 100)
    assert first[0] == OP_TEXT and last[0] == 0x80 | OP_CONT
    assert server.receive_data(first + last) == [TextMessage("a" * 100 + "b" * 100)]
    # Control frames never are.
    assert client.send_ping(b"x" * 100)[0] == 0x80 | OP_PING


def test_connection_without_compression_sends_plain_frames(codec: SimpleNamespace) -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER, compression=PerMessageDeflate())
    server.receive_data(client.initiate("example.com", "/"))
    client.receive_data(server.accept())
    assert client.compression is None and server.compression is None
    assert server.send_message("x" * 100)[0] == 0x80 | OP_TEXT
    # RSV1 from a peer that did not negotiate the extension fails the connection.
    server.receive_data(frame(OP_TEXT, HELLO, rsv=RSV1))
    assert server.failure is not None and server.failure.code == 1002


def test_connection_fails_on_a_bomb(codec: SimpleNamespace) -> None:
    client = Connection(ConnectionType.CLIENT, compression=PerMessageDeflate(), max_message_size=1000)
    server = Connection(ConnectionType.SERVER, compression=PerMessageDeflate())
    server.receive_data(client.initiate("example.com", "/"))
    client.receive_data(server.accept())
    assert client.receive_data(server.send_message(b"x" * 1000)) == [BytesMessage(b"x" * 1000)]
    assert client.receive_data(server.send_message(b"x" * 1001)) == []
    assert client.failure is not None and client.failure.code == 1009


# -- both implementations agree ---------------------------------------------------------

if _speedups.COMPILED is None and REQUIRE_COMPILED:
    raise RuntimeError("compiled codec required but not importable")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

messages = st.tuples(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.integers(1, 40_000).map(lambda n: b"z" * n),
    ),
    st.sampled_from([OP_TEXT, OP_BINARY]),
    st.booleans(),  # compressed
    st.lists(st.integers(0, 400), max_size=3),  # fragment cuts
    st.sampled_from([b"", b"\xff\xff\xff"]),  # appended garbage for corrupt streams
)


def _wire(items: list[tuple[bytes, int, bool, list[int], bytes]], no_context: bool) -> bytes:
    deflater = MessageDeflater(no_context_takeover=no_context)
    out = []
    for data, opcode, compressed, cuts, garbage in items:
        payload = deflater.compress(data) + garbage if compressed else data
        pieces = []
        pos = 0
        for cut in sorted(cuts):
            pieces.append(payload[pos:cut])
            pos = max(pos, cut)
        pieces.append(payload[pos:])
        for i, piece in enumerate(pieces):
            out.append(
                frame(
                    opcode if i == 0 else OP_CONT,
                    piece,
                    fin=i == len(pieces) - 1,
                    rsv=RSV1 if compressed and i == 0 else 0,
                    key=b"\x01\x02\x03\x04",
                )
            )
    return b"".join(out)


def _outcome(modules: Any, data: bytes, cuts: list[int], no_context: bool, **options: Any) -> tuple[Any, ...]:
    read = modules["frames"].FrameReader(
        expect_masked=True, inflater=MessageInflater(no_context_takeover=no_context), **options
    )
    events: list[Any] = []
    error = None
    pos = 0
    try:
        for cut in [*cuts, len(data)]:
            events += read.feed(data[pos : pos + cut])
            pos += cut
        events += read.feed(data[pos:])
    except ProtocolError as exc:
        events += exc.events
        error = (exc.code, exc.reason)
    return events, error, read.buffered, read.finished


@pytest.mark.skipif(_speedups.COMPILED is None, reason="compiled codec not built")
@SETTINGS
@given(
    st.lists(messages, max_size=6),
    st.lists(st.integers(1, 500), max_size=15),
    st.booleans(),
    st.sampled_from([None, 100, 20_000]),
    st.booleans(),
)
def test_implementations_agree(
    items: list[tuple[bytes, int, bool, list[int], bytes]],
    cuts: list[int],
    no_context: bool,
    max_size: int | None,
    reassemble: bool,
) -> None:
    wire = _wire(items, no_context)
    options = dict(max_message_size=max_size, reassemble=reassemble)
    compiled = _outcome(_speedups.COMPILED, wire, cuts, no_context, **options)
    pure = _outcome(_speedups.PURE, wire, cuts, no_context, **options)
    assert compiled == pure
    # And what they agree on is right: the messages that came through intact.
    events, error, _, _ = pure
    if reassemble:
        for event, (data, opcode, compressed, _, garbage) in zip(events, items, strict=False):  # events end at an error
            if not (compressed and garbage):
                assert event.data == (data.decode("utf-8") if opcode == OP_TEXT else data)
    if error is None:
        # Corrupt deflate data never goes unnoticed.
        assert not any(compressed and garbage for _, _, compressed, _, garbage in items)


# -- over the network ------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_senders_keep_the_compressed_stream_in_order(codec: SimpleNamespace) -> None:
    """With context takeover each message depends on the previous ones: frames must go out in compression order."""
    received: list[Any] = []
    done = anyio.Event()

    async def collect(ws: Websocket) -> None:
        async for message in ws:
            received.append(message.data)
            if len(received) == 4 * 200:
                done.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            server = await tg.start(
                lambda task_status: serve(collect, "127.0.0.1", 0, compression="deflate", task_status=task_status)
            )
            async with open_websocket(f"ws://127.0.0.1:{server.port}/", compression="deflate") as ws:
                assert ws.compression is not None

                async def sender(name: str) -> None:
                    for i in range(200):
                        await ws.send(f"{name} {i} " + "lorem ipsum " * (i % 50))

                async with anyio.create_task_group() as senders:
                    for name in "abcd":
                        senders.start_soon(sender, name)
                await done.wait()
            tg.cancel_scope.cancel()
    for name in "abcd":
        mine = [text for text in received if text.startswith(name + " ")]
        assert mine == [f"{name} {i} " + "lorem ipsum " * (i % 50) for i in range(200)]
