"""The message assembler, pure-Python twin of ``csrc/_messages.pyx``.

The frame reader (:mod:`._frames_py`) cuts the peer's bytes into frames;
:class:`MessageAssembler` turns the payloads of its data frames into
messages: it joins fragments, validates text as UTF-8 across them,
decompresses a compressed message, enforces ``max_message_size`` on the
message rather than the frame, and delivers frames one by one while a
message is streamed.

It mirrors its compiled twin method for method; keep them so.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from wsproto.events import BytesMessage, Event, TextMessage

from ._fragment import Fragment
from ._utf8_py import Utf8Validator
from .exceptions import ProtocolError
from .protocol import (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    OP_BINARY,
    OP_TEXT,
    RSV1,
)

if TYPE_CHECKING:
    from .deflate import MessageInflater

_new = object.__new__
_set = object.__setattr__


def _text(data: str) -> TextMessage:
    # Frozen-dataclass __init__ pays for three object.__setattr__ calls; an
    # event built on the hot path fills its __dict__ in one step instead.
    event = _new(TextMessage)
    _set(event, "__dict__", {"data": data, "frame_finished": True, "message_finished": True})
    return event


def _bytes(data: bytes) -> BytesMessage:
    event = _new(BytesMessage)
    _set(event, "__dict__", {"data": data, "frame_finished": True, "message_finished": True})
    return event


class MessageAssembler:
    """Messages out of the data frames of one peer, for :class:`~asyncwebsockets._frames_py.FrameReader`.

    ``max_message_size``, ``reassemble`` and ``inflater`` are the reader's
    arguments of the same names; the reader checks each data frame's
    header against the message in progress (:attr:`opcode`) and its length
    with :meth:`check_length`, then hands over its payload to
    :meth:`frame_event`.
    """

    __slots__ = (
        "opcode",
        "size",
        "_max_size",
        "_reassemble",
        "_stream_once",
        "_message",
        "_validator",
        "_decoder",
        "_inflater",
        "_compressed",
    )

    def __init__(
        self,
        max_message_size: int | None = 1 << 20,
        reassemble: bool = True,
        inflater: MessageInflater | None = None,
    ) -> None:
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        self._max_size = max_message_size
        self._reassemble = reassemble
        self._stream_once = False
        # The message in progress: its opcode (0 when none) and the size of
        # its fragments so far (counted as held by the reader).
        self.opcode = 0
        # Fragments are joined as they come: a list of a million tiny ones
        # would cost far more memory than their bytes.
        self._message = bytearray()
        self.size = 0
        self._validator = Utf8Validator()
        self._decoder: codecs.IncrementalDecoder | None = None
        self._inflater = inflater
        # Whether the message being received is compressed (RFC 7692
        # section 6: only its first frame carries RSV1).
        self._compressed = False

    @property
    def streaming(self) -> bool:
        """True from :meth:`stream_message` until the last frame of that message is assembled."""
        return self._stream_once

    def stream_message(self) -> Fragment | None:
        """Deliver the message in progress, or else the next one, frame by frame.

        Each of its data frames then comes out of :meth:`frame_event` as a
        :class:`~asyncwebsockets._fragment.Fragment`, and after its last
        one the assembler reassembles again.  Returns what of a message in
        progress was already received, as its first fragment (text whose
        last character is incomplete keeps those bytes for the next one),
        or None when no message is in progress.  ``max_message_size``
        applies to each of its frames from then on, since no more than one
        frame of it is held.  The switch is made by turning reassembly off,
        so the reassembling path never looks for it.
        """
        if self._stream_once or not self._reassemble:
            raise RuntimeError("the reader is already delivering frames as they come")
        self._reassemble = False
        self._stream_once = True
        if not self.opcode:
            return None
        data = bytes(self._message)
        self._message = bytearray()
        self.size = 0
        if self.opcode == OP_TEXT:
            # The validator has seen these bytes; the decoder keeps a
            # trailing incomplete character for the next frame.
            self._decoder = codecs.getincrementaldecoder("utf-8")()
            return Fragment(self._decoder.decode(data, False), False)
        return Fragment(data, False)

    def cancel_stream(self) -> bool:
        """Undo :meth:`stream_message` if no frame of that message has come yet; whether it was undone."""
        if not self._stream_once or self.opcode:
            return False
        self._stream_once = False
        self._reassemble = True
        return True

    def check_length(self, length: int, b0: int) -> None:
        """Refuse a data frame by its announced length, before its payload is buffered."""
        if length >> 63:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "frame length has its top bit set")
        if self._max_size is not None:
            size = length + self.size if self._reassemble else length
            if size > self._max_size and not self._compressed_frame_fits(length, b0):
                raise ProtocolError(CLOSE_MESSAGE_TOO_BIG, f"message exceeds {self._max_size} bytes")

    def _compressed_frame_fits(self, length: int, b0: int) -> bool:
        """Whether a compressed frame may be buffered although the plain rule refuses it.

        A compressed frame's size says nothing about its message's: the
        frame is bounded alone, and the decompressed message as it is
        decompressed.  The margin is deflate's framing of incompressible
        data (5 bytes per stored block of at most 64 KiB, and the flush).
        """
        assert self._max_size is not None
        if self._inflater is None:
            return False
        compressed = b0 & RSV1 if b0 & 0x0F else self._compressed
        return bool(compressed) and length <= self._max_size + (self._max_size >> 12) + 64

    def frame_event(self, b0: int, payload: bytes) -> Event | None:
        """Take a data frame's first byte and payload; return the event it completes, if any."""
        if b0 & RSV1 or self._compressed:
            return self._inflated_frame(b0 & 0x0F, b0 & 0x80, payload)
        return self._data_frame(b0 & 0x0F, b0 & 0x80, payload)

    def _data_frame(self, opcode: int, fin: int, payload: bytes) -> Event | None:
        if not self._reassemble:
            return self._stream_frame(opcode, fin, payload)
        if fin and opcode:
            # The common case: a whole message in one frame.
            if opcode == OP_TEXT:
                try:
                    return _text(payload.decode("utf-8"))
                except UnicodeDecodeError:
                    raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message") from None
            return _bytes(payload)
        if opcode:
            self.opcode = opcode
        if self.opcode == OP_TEXT and not self._validator.feed(payload, bool(fin)):
            raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message")
        self._message += payload
        self.size += len(payload)
        if not fin:
            return None
        data = bytes(self._message)
        message_opcode = self.opcode
        self._message = bytearray()
        self.size = 0
        self.opcode = 0
        if message_opcode == OP_TEXT:
            self._validator.reset()
            # Already validated fragment by fragment.
            return _text(data.decode("utf-8"))
        return _bytes(data)

    def _inflated_frame(self, opcode: int, fin: int, payload: bytes) -> Event | None:
        """A frame of a compressed message: decompressed, then handled like any other."""
        if self._inflater is None:
            # RSV1 was allowed for an extension of the caller's: its
            # payload is passed on as it is.
            return self._data_frame(opcode, fin, payload)
        if opcode:
            self._compressed = True
        if fin:
            self._compressed = False
        if self._max_size is None:
            limit = -1
        elif self._reassemble:
            limit = self._max_size - self.size
        else:
            limit = self._max_size
        return self._data_frame(opcode, fin, self._inflater.inflate(payload, bool(fin), limit))

    def _stream_frame(self, opcode: int, fin: int, payload: bytes) -> Event:
        """One data frame, delivered without waiting for the rest of its message."""
        if opcode:
            self.opcode = opcode
            if opcode == OP_TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        message_opcode = self.opcode
        if fin:
            self.opcode = 0
        data: str | bytes
        if message_opcode == OP_BINARY:
            data = payload
        else:
            if not self._validator.feed(payload, bool(fin)):
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message")
            assert self._decoder is not None
            data = self._decoder.decode(payload, bool(fin))
            if fin:
                self._validator.reset()
                self._decoder = None
        if self._stream_once:
            if fin:
                # That message is done: reassemble again from the next one.
                self._stream_once = False
                self._reassemble = True
            return Fragment(data, bool(fin))
        if isinstance(data, bytes):
            return BytesMessage(data, True, bool(fin))
        return TextMessage(data, True, bool(fin))
