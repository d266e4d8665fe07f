"""The frame writer, pure-Python twin of ``csrc/_frame_writer.pyx``.

:class:`FrameWriter` turns what we send into frames, header and (masked)
payload in one buffer.  It mirrors its compiled twin method for method;
keep them so.
"""

from __future__ import annotations

import os

from ._mask_py import apply_mask
from .protocol import OP_CLOSE, RSV1, RSV2, RSV3, serialize_close

Buffer = bytes | bytearray | memoryview

#: A frame as :meth:`FrameWriter.frame_parts` returns it: whole, or its
#: header and its payload, to be written one after the other.
FrameParts = bytes | tuple[bytes, bytes]


_MASK_POOL_SIZE = 4096
# From this size on, frame_parts() leaves an unmasked bytes payload where it
# is: copying it into the frame costs more than writing two pieces.
_SEPARATE_PAYLOAD = 65536


def _header(opcode: int, fin: bool, rsv: int, length: int, mask: bool) -> bytes:
    """A frame's header up to its masking key (which, if any, is the caller's)."""
    first = (0x80 if fin else 0) | (rsv & (RSV1 | RSV2 | RSV3)) | (opcode & 0x0F)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")


class FrameWriter:
    """Builds the frames we send: header and (masked) payload in one buffer.

    A client must mask every frame with a fresh, unpredictable key (RFC 6455
    section 5.3).  Keys come from ``os.urandom`` in batches: one system call
    per thousand frames instead of one per frame.
    """

    __slots__ = ("_mask", "_pool", "_pool_pos")

    def __init__(self, *, mask: bool) -> None:
        self._mask = mask
        self._pool = b""
        self._pool_pos = _MASK_POOL_SIZE

    def _next_key(self) -> bytes:
        if self._pool_pos >= _MASK_POOL_SIZE:
            self._pool = os.urandom(_MASK_POOL_SIZE)
            self._pool_pos = 0
        pos = self._pool_pos
        self._pool_pos = pos + 4
        return self._pool[pos : pos + 4]

    def frame(self, opcode: int, payload: Buffer, fin: bool = True, rsv: int = 0) -> bytes:
        """Serialize one frame."""
        header = _header(opcode, fin, rsv, len(payload), self._mask)
        if self._mask:
            key = self._next_key()
            return header + key + apply_mask(payload, key)
        return header + payload

    def frame_parts(self, opcode: int, payload: Buffer, fin: bool = True, rsv: int = 0) -> FrameParts:
        """One frame: as :meth:`frame` builds it, or as its header and the payload itself.

        The second, a tuple, for an unmasked ``bytes`` payload of 64 KiB or
        more: written one after the other, the two pieces are the frame,
        and the payload is not copied.  A masked payload is copied while
        it is masked anyway, and a mutable one could change before a
        transport has written it.
        """
        if self._mask or type(payload) is not bytes or len(payload) < _SEPARATE_PAYLOAD:
            return self.frame(opcode, payload, fin, rsv)
        return _header(opcode, fin, rsv, len(payload), False), payload

    def close(self, code: int | None = 1000, reason: str = "") -> bytes:
        """Serialize a close frame; ``code=None`` sends one with no payload.

        Refuses codes that may not go on the wire, so 1005/1006/1015 never do.
        """
        return self.frame(OP_CLOSE, serialize_close(code, reason))
