"""UTF-8 validation (RFC 3629; RFC 6455 sections 5.6 and 8.1), both codecs.

The expected fail-fast position of every sequence comes from
:func:`first_bad_byte`, written from the ABNF of RFC 3629 section 4, not from
the decoders under test.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

# RFC 3629 section 4: for each lead byte, how many continuation bytes follow
# and the range the first of them must fall in (the rest are 80..BF).
_TAIL = (0x80, 0xBF)
_LEADS: dict[int, tuple[int, tuple[int, int]]] = {}
for _b in range(0xC2, 0xE0):
    _LEADS[_b] = (1, _TAIL)
_LEADS[0xE0] = (2, (0xA0, 0xBF))
for _b in range(0xE1, 0xED):
    _LEADS[_b] = (2, _TAIL)
_LEADS[0xED] = (2, (0x80, 0x9F))
for _b in (0xEE, 0xEF):
    _LEADS[_b] = (2, _TAIL)
_LEADS[0xF0] = (3, (0x90, 0xBF))
for _b in (0xF1, 0xF2, 0xF3):
    _LEADS[_b] = (3, _TAIL)
_LEADS[0xF4] = (3, (0x80, 0x8F))


def first_bad_byte(data: bytes) -> int | None:
    """Index of the first byte no continuation can make valid; None if none.

    A sequence cut short at the end is not bad here (more may follow).
    """
    i = 0
    while i < len(data):
        lead = data[i]
        if lead < 0x80:
            i += 1
            continue
        if lead not in _LEADS:
            return i
        tails, (low, high) = _LEADS[lead]
        for k in range(1, tails + 1):
            if i + k >= len(data):
                return None
            byte = data[i + k]
            if k == 1 and not low <= byte <= high or k > 1 and not 0x80 <= byte <= 0xBF:
                return i + k
        i += tails + 1
    return None


def is_complete(data: bytes) -> bool:
    """Whether ``data`` has no bad byte and does not end inside a sequence."""
    if first_bad_byte(data) is not None:
        return False
    i = 0
    while i < len(data):
        i += 1 + (_LEADS[data[i]][0] if data[i] >= 0x80 else 0)
    return i == len(data)


VALID = [
    b"",
    b"Hello, world",
    bytes(range(128)),
    "\u0080".encode(),  # C2 80, smallest 2-byte
    "\u07ff".encode(),  # DF BF, largest 2-byte
    "\u0800".encode(),  # E0 A0 80, smallest 3-byte
    "\ud7ff".encode(),  # ED 9F BF, just below the surrogates
    "\ue000".encode(),  # EE 80 80, just above them
    "\ufffd".encode(),
    "\uffff".encode(),  # EF BF BF, largest 3-byte
    "\U00010000".encode(),  # F0 90 80 80, smallest 4-byte
    "\U0010ffff".encode(),  # F4 8F BF BF, largest code point
    "κόσμε".encode(),
    "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "€ 𝄞 😀 中文 ✓".encode() * 50,
]

INVALID = [
    pytest.param(b"\xc0\x80", id="overlong-2-nul"),
    pytest.param(b"\xc1\xbf", id="overlong-2-max"),
    pytest.param(b"\xe0\x80\x80", id="overlong-3-nul"),
    pytest.param(b"\xe0\x9f\xbf", id="overlong-3-max"),
    pytest.param(b"\xf0\x80\x80\x80", id="overlong-4-nul"),
    pytest.param(b"\xf0\x8f\xbf\xbf", id="overlong-4-max"),
    pytest.param(b"\xed\xa0\x80", id="surrogate-d800"),
    pytest.param(b"\xed\xbf\xbf", id="surrogate-dfff"),
    pytest.param(b"\xed\xa0\x80\xed\xb0\x80", id="surrogate-pair"),
    pytest.param(b"\xf4\x90\x80\x80", id="above-10ffff"),
    pytest.param(b"\xf7\xbf\xbf\xbf", id="f7"),
    pytest.param(b"\xf5\x80\x80\x80", id="f5"),
    pytest.param(b"\xf8\x88\x80\x80\x80", id="5-byte"),
    pytest.param(b"\xfc\x84\x80\x80\x80\x80", id="6-byte"),
    pytest.param(b"\xfe", id="fe"),
    pytest.param(b"\xff", id="ff"),
    pytest.param(b"\x80", id="lone-continuation"),
    pytest.param(b"\xbf", id="lone-continuation-bf"),
    pytest.param(b"a\x80b", id="continuation-in-ascii"),
    pytest.param(b"\xce\x41", id="missing-continuation"),
    pytest.param(b"\xe2\x82\x41", id="missing-continuation-3"),
    pytest.param(b"\xce", id="truncated-2"),
    pytest.param(b"\xe2\x82", id="truncated-3"),
    pytest.param(b"\xf0\x9f\x98", id="truncated-4"),
    pytest.param(b"valid then \xf0\x9f", id="truncated-after-text"),
    pytest.param("κόσμε".encode() + b"\xed\xa0\x80" + b"edited", id="surrogate-in-text"),
]


# -- complete buffers --------------------------------------------------------


@pytest.mark.parametrize("data", VALID)
def test_valid(codec: SimpleNamespace, data: bytes) -> None:
    assert codec.utf8.is_utf8(data)
    assert codec.utf8.is_utf8(bytearray(data))
    assert codec.utf8.is_utf8(memoryview(data))
    assert codec.utf8.Utf8Validator().feed(data, True)


@pytest.mark.parametrize("data", VALID)
def test_valid_in_every_split(codec: SimpleNamespace, data: bytes) -> None:
    # Byte by byte, every prefix is still valid.
    validator = codec.utf8.Utf8Validator()
    for i in range(len(data)):
        assert validator.feed(data[i : i + 1]), i
    assert validator.feed(b"", True)
    # Two pieces, cut anywhere (inside code points too).
    for cut in range(len(data) + 1):
        validator = codec.utf8.Utf8Validator()
        assert validator.feed(data[:cut])
        assert validator.feed(memoryview(data)[cut:], True), cut


@pytest.mark.parametrize("data", INVALID)
def test_invalid(codec: SimpleNamespace, data: bytes) -> None:
    assert not is_complete(data)  # the reference agrees
    assert not codec.utf8.is_utf8(data)
    assert not codec.utf8.is_utf8(bytearray(data))
    assert not codec.utf8.Utf8Validator().feed(data, True)
    # Fed whole without final, then ended.
    validator = codec.utf8.Utf8Validator()
    validator.feed(data)
    assert not validator.feed(b"", True)


@pytest.mark.parametrize(
    "data, rest",
    [
        (b"\xce", b"\xba"),
        (b"\xe2\x82", b"\xac"),
        (b"\xe2", b"\x82\xac"),
        (b"\xf0\x9f\x98", b"\x80"),
        (b"abc\xf0", b"\x9f\x98\x80"),
        (b"\xf4\x8f\xbf", b"\xbf"),
    ],
)
def test_truncated_fails_only_when_final(codec: SimpleNamespace, data: bytes, rest: bytes) -> None:
    assert codec.utf8.is_utf8(data + rest)
    assert not codec.utf8.is_utf8(data)
    assert not codec.utf8.Utf8Validator().feed(data, True)
    validator = codec.utf8.Utf8Validator()
    assert validator.feed(data)  # the rest may still come
    assert not validator.feed(b"", True)
    validator = codec.utf8.Utf8Validator()
    assert validator.feed(data)
    assert validator.feed(rest, True)  # and it does


# -- fail fast ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data, bad_at",
    [
        (b"\xc0\x80", 0),
        (b"\xc1\x80", 0),
        (b"ab\xc0", 2),
        (b"\xe0\x80\x80", 1),
        (b"\xe0\x9f\xbf", 1),
        (b"\xed\xa0\x80", 1),
        (b"\xed\xbf\xbf", 1),
        (b"\xf0\x80\x80\x80", 1),
        (b"\xf0\x8f\xbf\xbf", 1),
        (b"\xf4\x90\x80\x80", 1),
        (b"\xf4\xbf\x80\x80", 1),
        (b"\xf5\x80\x80\x80", 0),
        (b"\xff", 0),
        (b"\x80", 0),
        (b"ok\xbf", 2),
        (b"\xce\xba\xf5", 2),
        (b"\xce\x41", 1),
        (b"\xe2\x82\x41", 2),
        (b"\xf0\x90\x41", 2),
        (b"\xf0\x90\x80\x41", 3),
        (b"\xf0\x90\x80\x80\x80", 4),
        ("κόσμε".encode() + b"\xed\xa0\x80", 11),
    ],
)
def test_fails_fast_byte_by_byte(codec: SimpleNamespace, data: bytes, bad_at: int) -> None:
    # False exactly at the first byte that no continuation could make valid
    # (Autobahn case 6.x "fail fast"), and False from then on.
    assert first_bad_byte(data) == bad_at
    validator = codec.utf8.Utf8Validator()
    for i in range(len(data)):
        assert validator.feed(data[i : i + 1]) == (i < bad_at), i


_INTERESTING = [
    0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
    0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5,
    0xF8, 0xFF,
]  # fmt: skip


def test_fails_fast_random_sequences(codec: SimpleNamespace) -> None:
    # Byte-by-byte answers against the RFC 3629 reference, on sequences made
    # mostly of the boundary bytes of the encoding.
    rng = random.Random(6455)
    for _ in range(3000):
        data = bytes(rng.choice(_INTERESTING) for _ in range(rng.randint(1, 9)))
        bad = first_bad_byte(data)
        validator = codec.utf8.Utf8Validator()
        answers = [validator.feed(data[i : i + 1]) for i in range(len(data))]
        expected = [bad is None or i < bad for i in range(len(data))]
        assert answers == expected, data.hex()
        assert validator.feed(b"", True) == is_complete(data), data.hex()
        assert codec.utf8.is_utf8(data) == is_complete(data), data.hex()


def test_fails_fast_in_chunks(codec: SimpleNamespace) -> None:
    # The piece holding the bad byte is refused, however the stream is cut.
    data = "€uro 𝄞 ".encode() * 20 + b"\xed\xa0\x80" + b"after"
    bad = first_bad_byte(data)
    assert bad is not None
    for size in (1, 2, 3, 5, 7, 64):
        validator = codec.utf8.Utf8Validator()
        for start in range(0, len(data), size):
            ok = validator.feed(data[start : start + size])
            assert ok == (start + size <= bad), (size, start)


def test_all_two_byte_sequences(codec: SimpleNamespace) -> None:
    is_utf8 = codec.utf8.is_utf8
    for first in range(256):
        for second in range(256):
            data = bytes((first, second))
            assert is_utf8(data) == is_complete(data), data.hex()


def test_three_and_four_byte_sequences(codec: SimpleNamespace) -> None:
    is_utf8 = codec.utf8.is_utf8
    ends = (0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF)
    for first in range(0xE0, 0x100):
        for second in range(256):
            for third in ends:
                data = bytes((first, second, third))
                assert is_utf8(data) == is_complete(data), data.hex()
                if first >= 0xF0:
                    for fourth in (0x41, 0x80, 0xBF, 0xC0):
                        data4 = data + bytes((fourth,))
                        assert is_utf8(data4) == is_complete(data4), data4.hex()


# -- state -------------------------------------------------------------------


def test_invalid_is_sticky(codec: SimpleNamespace) -> None:
    validator = codec.utf8.Utf8Validator()
    assert not validator.feed(b"\xff")
    assert not validator.feed(b"plain ascii")
    assert not validator.feed(b"", True)
    assert not validator.feed(b"more", True)


def test_reset_after_invalid(codec: SimpleNamespace) -> None:
    validator = codec.utf8.Utf8Validator()
    assert not validator.feed(b"\xc0\x80")
    validator.reset()
    assert validator.feed(b"fine", True)


def test_reset_drops_a_pending_code_point(codec: SimpleNamespace) -> None:
    validator = codec.utf8.Utf8Validator()
    assert validator.feed(b"ok\xe2\x82")
    validator.reset()
    # Without the reset, "a" would be a bad continuation of E2 82.
    assert validator.feed(b"a", True)


def test_reset_after_final(codec: SimpleNamespace) -> None:
    # One validator serves message after message.
    validator = codec.utf8.Utf8Validator()
    for text in ("first €", "second 𝄞", ""):
        data = text.encode()
        assert validator.feed(data[:-1] if data else data)
        assert validator.feed(data[-1:], True)
        validator.reset()
    assert not validator.feed(b"\xe2", True)
    validator.reset()
    assert validator.feed(b"", True)


def test_validators_are_independent(codec: SimpleNamespace) -> None:
    one = codec.utf8.Utf8Validator()
    two = codec.utf8.Utf8Validator()
    assert one.feed(b"\xe2\x82")
    assert not two.feed(b"\xff")
    assert one.feed(b"\xac", True)
