"""Compressing and decompressing messages for permessage-deflate (RFC 7692 section 7.2).

:class:`MessageDeflater` compresses the messages we send; the frame reader
(both twins) hands the payloads of compressed messages to a
:class:`MessageInflater`.  Both are plain Python: zlib does the work, and one
Python call per compressed frame is small next to it.

Which settings apply to which side is decided by
:mod:`asyncwebsockets.permessage_deflate`; :func:`codecs_for` turns an
agreement into the pair one end of a connection needs.
"""

from __future__ import annotations

import zlib

from .exceptions import ProtocolError
from .permessage_deflate import PerMessageDeflate
from .protocol import CLOSE_INVALID_DATA, CLOSE_MESSAGE_TOO_BIG

__all__ = ["MessageDeflater", "MessageInflater", "codecs_for"]

Buffer = bytes | bytearray | memoryview

#: What a sync flush ends with; RFC 7692 section 7.2.1 drops it from each
#: compressed message and section 7.2.2 appends it again before inflating.
TAIL = b"\x00\x00\xff\xff"


def _raw_wbits(window_bits: int) -> int:
    """zlib's ``wbits`` for a raw deflate stream with at most this window.

    zlib refuses to make raw streams with an 8-bit window; with 9 bits its
    compressor never refers back further than 250 bytes (the window less
    its 262-byte look-ahead), so the stream still fits a 256-byte window.
    Inflating with a larger window than the peer uses is always correct.
    """
    return -max(window_bits, 9)


class MessageDeflater:
    """Compresses whole messages, one :meth:`compress` call each.

    With context takeover the compressor is kept (its window makes later
    messages like earlier ones compress better) and is made at the first
    message, so a connection that never sends pays nothing; without it, each
    message gets a fresh compressor that is dropped afterwards.
    """

    __slots__ = ("_wbits", "_no_context_takeover", "_level", "_memory_level", "_compressor")

    def __init__(
        self, window_bits: int = 15, no_context_takeover: bool = False, level: int = 6, memory_level: int = 8
    ) -> None:
        self._wbits = _raw_wbits(window_bits)
        self._no_context_takeover = no_context_takeover
        self._level = level
        self._memory_level = memory_level
        self._compressor: zlib._Compress | None = None

    def compress(self, data: Buffer) -> bytes:
        """The payload of one compressed message (the trailing ``00 00 ff ff`` removed)."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, self._memory_level)
            if not self._no_context_takeover:
                self._compressor = compressor
        # A sync flush ends the message on a byte boundary and always with
        # the four bytes that section 7.2.1 says to remove.
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]


class MessageInflater:
    """Decompresses the frames of compressed messages, within a size limit.

    The frame reader passes each frame's payload as it arrives, with how
    many decompressed bytes the message may still grow by: a few kilobytes
    of deflate data can inflate to gigabytes, so the limit is enforced on
    the output as it is produced, never after.
    """

    __slots__ = ("_wbits", "_no_context_takeover", "_decompressor")

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        self._wbits = _raw_wbits(window_bits)
        self._no_context_takeover = no_context_takeover
        self._decompressor: zlib._Decompress | None = None

    def inflate(self, data: bytes, fin: bool, limit: int) -> bytes:
        """Decompress one frame; ``fin`` marks the message's last, ``limit`` is -1 or the most output allowed.

        Raises :class:`ProtocolError`: 1009 when the output would pass
        ``limit``, 1007 when the data is not a valid deflate stream.
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(self._wbits)
        if fin:
            data += TAIL
        try:
            if limit < 0:
                out = decompressor.decompress(data)
            else:
                # zlib's max_length of 0 means "no limit": a message already
                # at its limit may only carry input that makes no output.
                out = decompressor.decompress(data, limit) if limit else b""
                rest = decompressor.unconsumed_tail if limit else data
                # Output stopped at the limit; the rest of the input may
                # still be block ends that produce nothing more.
                while rest:
                    if decompressor.decompress(rest, 1):
                        raise ProtocolError(CLOSE_MESSAGE_TOO_BIG, "message too big once decompressed")
                    rest = decompressor.unconsumed_tail
        except zlib.error:
            raise ProtocolError(CLOSE_INVALID_DATA, "invalid compressed data") from None
        if fin and (self._no_context_takeover or decompressor.eof):
            # The peer starts its next message afresh (or ended its deflate
            # stream with a final block): the window is no longer needed.
            self._decompressor = None
        return out


def codecs_for(agreed: PerMessageDeflate, client: bool) -> tuple[MessageDeflater, MessageInflater]:
    """The compressor for what this end sends and the decompressor for what it receives."""
    if client:
        ours = (agreed.client_max_window_bits, agreed.client_no_context_takeover)
        theirs = (agreed.server_max_window_bits, agreed.server_no_context_takeover)
    else:
        ours = (agreed.server_max_window_bits, agreed.server_no_context_takeover)
        theirs = (agreed.client_max_window_bits, agreed.client_no_context_takeover)
    deflater = MessageDeflater(ours[0], ours[1], agreed.level, agreed.memory_level)
    return deflater, MessageInflater(*theirs)
