"""Payload masking, RFC 6455 section 5.3, for both codec implementations.

Every expected value comes from :func:`reference_mask`, a byte-by-byte
transcription of the RFC's formula, or from bytes written out by hand.
"""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import pytest

# RFC 6455 section 5.7, "A single-frame masked text message".
RFC_KEY = bytes.fromhex("37fa213d")
RFC_HELLO_MASKED = bytes.fromhex("7f9f4d5158")


def reference_mask(data: bytes, key: bytes, offset: int = 0) -> bytes:
    """``transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)``.

    ``offset`` is the payload position of ``data[0]``.
    """
    return bytes(b ^ key[(offset + i) % 4] for i, b in enumerate(data))


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1000003 + size).randbytes(size)


KEY = bytes.fromhex("a1b2c3d4")
# 65535 and 65536 straddle the size from which the compiled code releases the GIL.
SIZES = list(range(41)) + [1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 1 << 20]


# -- known vectors -----------------------------------------------------------


def test_rfc_example(codec: SimpleNamespace) -> None:
    assert codec.mask.apply_mask(b"Hello", RFC_KEY) == RFC_HELLO_MASKED
    assert codec.mask.apply_mask(RFC_HELLO_MASKED, RFC_KEY) == b"Hello"
    buf = bytearray(b"Hello")
    codec.mask.apply_mask_inplace(buf, RFC_KEY)
    assert buf == RFC_HELLO_MASKED


@pytest.mark.parametrize(
    "data, key, offset, expected",
    [
        (b"\x00" * 8, b"\x01\x02\x03\x04", 0, b"\x01\x02\x03\x04\x01\x02\x03\x04"),
        (b"\x00" * 8, b"\x01\x02\x03\x04", 1, b"\x02\x03\x04\x01\x02\x03\x04\x01"),
        (b"\x00" * 8, b"\x01\x02\x03\x04", 2, b"\x03\x04\x01\x02\x03\x04\x01\x02"),
        (b"\x00" * 8, b"\x01\x02\x03\x04", 3, b"\x04\x01\x02\x03\x04\x01\x02\x03"),
        (b"\x00" * 5, b"\x01\x02\x03\x04", 3, b"\x04\x01\x02\x03\x04"),
        (b"\xff\x00\xf0\x0f\xaa", b"\xff\xff\xff\xff", 0, b"\x00\xff\x0f\xf0\x55"),
        (b"abcdefg", b"\x00\x00\x00\x00", 2, b"abcdefg"),
        (b"Hello", RFC_KEY, 0, RFC_HELLO_MASKED),
        # "llo" is payload bytes 2..4 of "Hello": key bytes 21 3d 37.
        (b"llo", RFC_KEY, 2, RFC_HELLO_MASKED[2:]),
    ],
)
def test_hand_computed_vectors(codec: SimpleNamespace, data: bytes, key: bytes, offset: int, expected: bytes) -> None:
    assert codec.mask.apply_mask(data, key, offset) == expected
    buf = bytearray(data)
    codec.mask.apply_mask_inplace(buf, key, offset)
    assert buf == expected


def test_large_vector_with_known_pattern(codec: SimpleNamespace) -> None:
    # Zeros masked give the key repeated; catches a wide kernel that handles
    # the bulk of a big buffer with the wrong key phase.
    size = (1 << 20) + 3
    for offset in range(4):
        rotated = KEY[offset:] + KEY[:offset]
        expected = (rotated * (size // 4 + 1))[:size]
        assert codec.mask.apply_mask(bytes(size), KEY, offset) == expected
        buf = bytearray(size)
        codec.mask.apply_mask_inplace(buf, KEY, offset)
        assert buf == expected


# -- sizes, offsets, buffer kinds -------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_sizes_and_offsets(codec: SimpleNamespace, size: int) -> None:
    data = payload(size)
    for offset in range(4):
        expected = reference_mask(data, KEY, offset)
        out = codec.mask.apply_mask(data, KEY, offset)
        assert type(out) is bytes
        assert out == expected, offset
        # Masking is its own inverse.
        assert codec.mask.apply_mask(out, KEY, offset) == data


@pytest.mark.parametrize("size", SIZES)
def test_in_place_bytearray(codec: SimpleNamespace, size: int) -> None:
    data = payload(size, 1)
    for offset in range(4):
        buf = bytearray(data)
        assert codec.mask.apply_mask_inplace(buf, KEY, offset) is None
        assert buf == reference_mask(data, KEY, offset), offset
        codec.mask.apply_mask_inplace(buf, KEY, offset)
        assert buf == data


@pytest.mark.parametrize("size", SIZES)
def test_in_place_memoryview_slice(codec: SimpleNamespace, size: int) -> None:
    # A writable view into the middle of a larger buffer: only the view's
    # bytes change, and the key phase starts at the view, not the buffer.
    data = payload(size, 2)
    for offset in range(4):
        backing = bytearray(b"<<<" + data + b">>>")
        view = memoryview(backing)[3 : 3 + size]
        codec.mask.apply_mask_inplace(view, KEY, offset)
        assert backing[:3] == b"<<<" and backing[-3:] == b">>>"
        assert backing[3:-3] == reference_mask(data, KEY, offset), offset


def test_empty(codec: SimpleNamespace) -> None:
    for offset in range(4):
        assert codec.mask.apply_mask(b"", KEY, offset) == b""
        assert codec.mask.apply_mask(bytearray(), KEY, offset) == b""
        buf = bytearray()
        codec.mask.apply_mask_inplace(buf, KEY, offset)
        assert buf == b""
        codec.mask.apply_mask_inplace(memoryview(bytearray()), KEY, offset)


@pytest.mark.parametrize("size", [3, 40, 4097])
def test_input_kinds(codec: SimpleNamespace, size: int) -> None:
    data = payload(size, 3)
    expected = reference_mask(data, KEY, 1)
    source = bytearray(data)
    for kind in (bytes(data), source, memoryview(source), memoryview(data)):
        out = codec.mask.apply_mask(kind, KEY, 1)
        assert type(out) is bytes
        assert out == expected
    # apply_mask returns a new object and leaves its input alone.
    assert source == data


def test_key_kinds(codec: SimpleNamespace) -> None:
    # Any 4-byte buffer serves as the key, at every size.
    for size in (5, 4097):
        data = payload(size, 4)
        for offset in (0, 3):
            expected = reference_mask(data, KEY, offset)
            for key in (KEY, bytearray(KEY), memoryview(KEY)):
                assert codec.mask.apply_mask(data, key, offset) == expected
                buf = bytearray(data)
                codec.mask.apply_mask_inplace(buf, key, offset)
                assert buf == expected


def test_offset_is_taken_modulo_4(codec: SimpleNamespace) -> None:
    for size in (7, 4097):
        data = payload(size, 5)
        for offset in (4, 5, 6, 7, 1001, 1 << 20):
            expected = reference_mask(data, KEY, offset % 4)
            assert codec.mask.apply_mask(data, KEY, offset) == expected
            buf = bytearray(data)
            codec.mask.apply_mask_inplace(buf, KEY, offset)
            assert buf == expected


def test_piecewise_unmasking(codec: SimpleNamespace) -> None:
    # A payload that arrives in pieces is unmasked piece by piece, each piece
    # given its payload position as the offset.
    data = payload(6000, 6)
    whole = reference_mask(data, KEY)
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 8)))
        out = b""
        for start, end in itertools.pairwise([0, *cuts, len(data)]):
            out += codec.mask.apply_mask(data[start:end], KEY, start)
        assert out == whole, cuts


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", b"\x01", b"abc", b"abcde", b"abcdefgh"])
def test_key_not_4_bytes(codec: SimpleNamespace, key: bytes) -> None:
    for data in (b"", b"data", bytes(5000)):
        with pytest.raises(ValueError):
            codec.mask.apply_mask(data, key)
        buf = bytearray(data)
        with pytest.raises(ValueError):
            codec.mask.apply_mask_inplace(buf, key)
        assert buf == data  # untouched


@pytest.mark.parametrize("size", [0, 5, 5000])
def test_in_place_needs_writable_buffer(codec: SimpleNamespace, size: int) -> None:
    data = payload(size, 8)
    with pytest.raises(TypeError):
        codec.mask.apply_mask_inplace(data, KEY)
    with pytest.raises(TypeError):
        codec.mask.apply_mask_inplace(memoryview(data), KEY)
    with pytest.raises(TypeError):
        codec.mask.apply_mask_inplace(memoryview(bytearray(data)).toreadonly(), KEY)
    assert data == payload(size, 8)


@pytest.mark.parametrize("key", [4, "abcd", None, [1, 2, 3, 4]])
def test_key_must_be_a_buffer(codec: SimpleNamespace, key: object) -> None:
    # Not silently an all-zero key (bytes(4) is one).
    for data in (b"", b"abc", bytes(5000)):
        with pytest.raises(TypeError):
            codec.mask.apply_mask(data, key)
        with pytest.raises(TypeError):
            codec.mask.apply_mask_inplace(bytearray(data), key)
