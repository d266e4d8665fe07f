"""The protocol's numbers and the close frame's payload, kept in one place.

:mod:`asyncwebsockets.protocol` is the source of the opcodes and close
codes; the compiled codec repeats them as C constants in
``csrc/protocol.pxd``, checked here against it.  Close payloads are
encoded and decoded by Python code both codecs share.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from wsproto.events import CloseConnection
from wsproto.frame_protocol import CloseReason
from wsproto.frame_protocol import Opcode as WsprotoOpcode

from asyncwebsockets import protocol
from asyncwebsockets.exceptions import ProtocolError
from asyncwebsockets.protocol import (
    CloseCode,
    Opcode,
    is_valid_close_code,
    parse_close,
    serialize_close,
)

PXD = Path(__file__).resolve().parent.parent / "csrc" / "protocol.pxd"


def pxd_constants() -> dict[str, int]:
    """The ``NAME = value`` lines of the .pxd's ``cdef enum`` blocks."""
    if not PXD.exists():
        pytest.skip("csrc/protocol.pxd is not here (tests run without the source tree)")
    return {
        name: int(value, 0)
        for name, value in re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\s*$", PXD.read_text(), re.M)
    }


def python_value(name: str) -> int:
    """What the .pxd's ``name`` stands for in asyncwebsockets.protocol."""
    if name.startswith("OP_"):
        return Opcode[name[3:]]
    if name.startswith("CLOSE_"):
        return CloseCode[name[6:]]
    value = getattr(protocol, name)
    assert isinstance(value, int)
    return value


def test_pxd_matches_the_python_module() -> None:
    constants = pxd_constants()
    assert {"OP_TEXT", "CLOSE_PROTOCOL_ERROR", "RSV_ALL", "MAX_CONTROL_PAYLOAD"} <= set(constants)
    for name, value in constants.items():
        assert value == python_value(name), name


def test_every_opcode_is_in_the_pxd() -> None:
    constants = pxd_constants()
    for opcode in Opcode:
        assert constants[f"OP_{opcode.name}"] == opcode


def test_plain_int_aliases() -> None:
    # The aliases the pure-Python hot paths use are the enum's values, as ints.
    for name in dir(protocol):
        if name.startswith(("OP_", "CLOSE_")):
            value = getattr(protocol, name)
            assert type(value) is int, name
            assert value == python_value(name), name


def test_numbers_agree_with_wsproto() -> None:
    # An independent transcription of RFC 6455 sections 5.2 and 7.4.1.
    assert {op.name: op.value for op in Opcode} == {op.name: op.value for op in WsprotoOpcode}
    theirs = {reason.value for reason in CloseReason}
    assert {code.value for code in CloseCode} - theirs <= {1014}  # BAD_GATEWAY came after wsproto's list
    assert theirs - {code.value for code in CloseCode} == set()


def test_close_code_is_an_int() -> None:
    assert CloseCode.GOING_AWAY == 1001
    assert isinstance(CloseCode.GOING_AWAY, int)
    assert is_valid_close_code(CloseCode.GOING_AWAY)
    assert serialize_close(CloseCode.GOING_AWAY, "bye") == b"\x03\xe9bye"


# -- is_valid_close_code ------------------------------------------------------------


def test_is_valid_close_code() -> None:
    # RFC 6455 section 7.4 and the IANA registry: 1000-1003, 1007-1011 and the
    # since registered 1012-1014; 3000-4999 for libraries and applications.
    valid = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
    for code in range(-2, 65540):
        assert is_valid_close_code(code) == (code in valid), code


def test_codes_that_only_describe_a_closure() -> None:
    for code in (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE):
        assert not is_valid_close_code(code)
    for code in set(CloseCode) - {CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}:
        assert is_valid_close_code(code), code


# -- parse_close ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, code, reason",
    [
        (b"", 1005, ""),
        (b"\x03\xe8", 1000, ""),
        (b"\x03\xe9going", 1001, "going"),
        (b"\x0b\xb8" + "✓ 𝄞".encode(), 3000, "✓ 𝄞"),
        (b"\x13\x87", 4999, ""),
        (b"\x03\xf6x", 1014, "x"),
    ],
)
def test_parse_close(data: bytes, code: int, reason: str) -> None:
    event = parse_close(data)
    assert isinstance(event, CloseConnection)
    assert (event.code, event.reason) == (code, reason)
    assert type(event.code) is int


@pytest.mark.parametrize(
    "data, code",
    [
        (b"\x03", 1002),
        (b"\x00\x00", 1002),
        (b"\x03\xe7", 1002),
        (b"\x03\xed", 1002),  # 1005 may not be sent
        (b"\x03\xee", 1002),
        (b"\x03\xf7", 1002),
        (b"\x13\x88", 1002),
        (b"\x03\xe8\xff", 1007),
        (b"\x03\xe8ok\xed\xa0\x80", 1007),
        (b"\x03\xed\xff", 1002),  # the code is checked first
    ],
)
def test_parse_close_errors(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(data)
    assert info.value.code == code
    assert type(info.value.code) is int


# -- serialize_close ------------------------------------------------------------------


def test_serialize_close() -> None:
    assert serialize_close(None, "") == b""
    assert serialize_close(1000, "") == b"\x03\xe8"
    assert serialize_close(4999, "€") == b"\x13\x87\xe2\x82\xac"
    assert serialize_close(1000, "x" * 123) == b"\x03\xe8" + b"x" * 123
    assert parse_close(serialize_close(3000, "round ✓ trip")) == CloseConnection(3000, "round ✓ trip")


@pytest.mark.parametrize(
    "code, reason, error",
    [
        (None, "a reason without a code", ValueError),
        ("1000", "", TypeError),
        (1000.0, "", TypeError),
        (1005, "", ValueError),
        (1006, "", ValueError),
        (1015, "", ValueError),
        (999, "", ValueError),
        (5000, "", ValueError),
        (1000, "x" * 124, ValueError),
        (1000, "€" * 42, ValueError),
    ],
)
def test_serialize_close_refuses(code: object, reason: str, error: type) -> None:
    with pytest.raises(error):
        serialize_close(code, reason)  # type: ignore[arg-type]
