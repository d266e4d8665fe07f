"""The numbers RFC 6455 puts on the wire, and the close frame's payload.

This is the one place where opcodes, close codes and header bits are
written down.  The connection state machine and the pure-Python codec take
them from here.  The compiled codec needs them as C constants in its inner
loop, so ``csrc/protocol.pxd`` repeats them, and a test checks that the two
agree.

A close frame comes once per connection, so its payload is encoded and
decoded here, in Python, for both codecs: only the per-frame work is worth
compiling.
"""

from __future__ import annotations

from enum import IntEnum

from wsproto.events import CloseConnection

from .exceptions import ProtocolError

__all__ = [
    "Opcode",
    "CloseCode",
    "is_valid_close_code",
    "parse_close",
    "serialize_close",
]


class Opcode(IntEnum):
    """The frame types of RFC 6455 section 5.2; the other values are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    """Close codes from RFC 6455 section 7.4.1 and the IANA registry.

    Members compare equal to the plain integers, so they can be passed
    wherever a close code is taken (``await ws.close(CloseCode.GOING_AWAY)``)
    and compared with the codes the library reports, which stay plain
    integers.  ``NO_STATUS_RCVD``, ``ABNORMAL_CLOSURE`` and ``TLS_HANDSHAKE``
    only ever describe a closure: they may not be sent.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# The same numbers as plain ints, for the code that handles every frame:
# an enum member costs an attribute look-up and a slower comparison each
# time, and what the library reports (event and error codes) stays int.
OP_CONTINUATION = Opcode.CONTINUATION.value
OP_TEXT = Opcode.TEXT.value
OP_BINARY = Opcode.BINARY.value
OP_CLOSE = Opcode.CLOSE.value
OP_PING = Opcode.PING.value
OP_PONG = Opcode.PONG.value

CLOSE_NORMAL_CLOSURE = CloseCode.NORMAL_CLOSURE.value
CLOSE_GOING_AWAY = CloseCode.GOING_AWAY.value
CLOSE_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
CLOSE_NO_STATUS_RCVD = CloseCode.NO_STATUS_RCVD.value
CLOSE_ABNORMAL_CLOSURE = CloseCode.ABNORMAL_CLOSURE.value
CLOSE_INVALID_DATA = CloseCode.INVALID_DATA.value
CLOSE_MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG.value
CLOSE_INTERNAL_ERROR = CloseCode.INTERNAL_ERROR.value

# The reserved bits of a frame's first byte (RFC 6455 section 5.2).
# Extensions define what they mean; permessage-deflate uses RSV1 to mark a
# compressed message.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
RSV_ALL = RSV1 | RSV2 | RSV3

#: A control frame's payload is at most this many bytes (RFC 6455 section 5.5).
MAX_CONTROL_PAYLOAD = 125


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire (RFC 6455 7.4).

    1005, 1006 and 1015 are for reporting only; 1012-1014 are registered with
    IANA since the RFC; 3000-4999 belong to libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close(payload: bytes) -> CloseConnection:
    """Decode a close frame's payload (RFC 6455 section 5.5.1).

    Raises :class:`~asyncwebsockets.exceptions.ProtocolError` for a payload
    the peer may not send: one byte, a code that may not be sent, or a
    reason that is not UTF-8.
    """
    if not payload:
        return CloseConnection(CLOSE_NO_STATUS_RCVD, "")
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in close reason") from None
    return CloseConnection(code, reason)


def serialize_close(code: int | None, reason: str) -> bytes:
    """The payload of a close frame we send; ``code=None`` makes an empty one.

    Refuses what may not go on the wire, so that neither codec can send
    1005, 1006 or 1015, nor a reason that does not fit a control frame.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not isinstance(code, int):
        raise TypeError(f"a close code is an int, not {type(code).__name__}")
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    payload = code.to_bytes(2, "big") + reason.encode("utf-8")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError("close reason longer than 123 bytes of UTF-8")
    return payload
