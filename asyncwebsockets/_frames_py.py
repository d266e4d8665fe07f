"""The frame reader, pure-Python twin of ``csrc/_frames.pyx``.

:class:`FrameReader` turns the bytes one peer sends into wsproto events,
enforcing RFC 6455 section 5 as it goes (what we send is framed by
:mod:`._frame_writer_py`).  Everything above this (handshake, close states,
who answers pings) is the connection's business, not the codec's.

It mirrors its compiled twin method for method; keep them so.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from wsproto.events import BytesMessage, Event, Ping, Pong, TextMessage

from ._fragment import Fragment
from ._mask_py import apply_mask
from ._utf8_py import Utf8Validator
from .exceptions import ProtocolError
from .protocol import (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    RSV2,
    RSV3,
    parse_close,
)

if TYPE_CHECKING:
    from .deflate import MessageInflater

Buffer = bytes | bytearray | memoryview

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


class FrameReader:
    """Incremental parser for the frames one peer sends.

    Feed it chunks of any size with :meth:`feed`; it returns the events that
    became complete.  With ``reassemble`` (the default) fragmented messages
    come out whole; without it, each data frame comes out as it arrives, with
    ``message_finished`` set on the last one, so a large message need not be
    held in memory.

    ``max_message_size`` (bytes; ``None`` for no limit) is checked against
    each frame header, before its payload is buffered: the limit bounds the
    memory one connection can make us hold.  Without reassembly it applies
    to each frame.

    :meth:`stream_message` turns reassembly off for one message: the one in
    progress, or else the next.  Its frames then come out as
    :class:`~asyncwebsockets._fragment.Fragment` events as they arrive, and
    reassembly resumes after its last frame.  The switch is made by turning
    ``reassemble`` off, so the reassembling path never looks for it.

    With an ``inflater`` (permessage-deflate was negotiated), a data frame
    with RSV1 set starts a compressed message, whose frames are decompressed
    before anything else looks at them; ``max_message_size`` then bounds the
    decompressed size.

    After a close frame or a protocol error the reader is finished: further
    input is ignored, as RFC 6455 section 5.5.1 says nothing may follow.
    """

    __slots__ = (
        "_buffer",
        "_expect_masked",
        "_max_size",
        "_reassemble",
        "_allowed_rsv",
        "_message_opcode",
        "_message",
        "_message_size",
        "_validator",
        "_decoder",
        "_finished",
        "_inflater",
        "_compressed",
        "_stream_once",
    )

    def __init__(
        self,
        *,
        expect_masked: bool,
        max_message_size: int | None = 1 << 20,
        reassemble: bool = True,
        allowed_rsv: int = 0,
        inflater: MessageInflater | None = None,
    ) -> None:
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        self._buffer = bytearray()
        self._expect_masked = expect_masked
        self._max_size = max_message_size
        self._reassemble = reassemble
        self._allowed_rsv = allowed_rsv & (RSV1 | RSV2 | RSV3)
        if inflater is not None:
            self._allowed_rsv |= RSV1
        # The message being reassembled: its opcode (0 when none), its
        # fragments so far, joined as they come (a list of a million tiny
        # fragments would cost far more memory than their bytes), and their
        # total size.
        self._message_opcode = 0
        self._message = bytearray()
        self._message_size = 0
        self._validator = Utf8Validator()
        self._decoder: codecs.IncrementalDecoder | None = None
        self._finished = False
        self._inflater = inflater
        # Whether the message being received is compressed (RFC 7692
        # section 6: only its first frame carries RSV1).
        self._compressed = False
        # Whether reassembly is off for one message only (stream_message).
        self._stream_once = False

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus the fragments of an unfinished message."""
        return len(self._buffer) + self._message_size

    def receive_buffer(self) -> memoryview | None:
        """Where the next bytes from the peer may be read to: here always None, for anywhere.

        The compiled reader offers the rest of a large frame's payload, so
        that those bytes are read into place instead of copied there.  In
        Python a payload can only be assembled in a ``bytearray`` and
        copied into ``bytes`` at the end, so reading into it would save
        nothing.
        """
        return None

    @property
    def finished(self) -> bool:
        """True once a close frame or a protocol error ended the stream."""
        return self._finished

    @property
    def streaming(self) -> bool:
        """True from :meth:`stream_message` until the last frame of that message is parsed."""
        return self._stream_once

    def stream_message(self) -> Fragment | None:
        """Deliver the message in progress, or else the next one, frame by frame.

        Each of its data frames then comes out of :meth:`feed` as a
        :class:`~asyncwebsockets._fragment.Fragment`, and after its last
        one the reader reassembles again.  Returns what of a message in
        progress was already received, as its first fragment (text whose
        last character is incomplete keeps those bytes for the next one),
        or None when no message is in progress.  ``max_message_size``
        applies to each of its frames from then on, since no more than one
        frame of it is held.
        """
        if self._stream_once or not self._reassemble:
            raise RuntimeError("the reader is already delivering frames as they come")
        self._reassemble = False
        self._stream_once = True
        if not self._message_opcode:
            return None
        data = bytes(self._message)
        self._message = bytearray()
        self._message_size = 0
        if self._message_opcode == OP_TEXT:
            # The validator has seen these bytes; the decoder keeps a
            # trailing incomplete character for the next frame.
            self._decoder = codecs.getincrementaldecoder("utf-8")()
            return Fragment(self._decoder.decode(data, False), False)
        return Fragment(data, False)

    def cancel_stream(self) -> bool:
        """Undo :meth:`stream_message` if no frame of that message has come yet; whether it was undone."""
        if not self._stream_once or self._message_opcode:
            return False
        self._stream_once = False
        self._reassemble = True
        return True

    def feed(self, data: Buffer) -> list[Event]:
        """Take the next bytes from the peer; return the events they complete.

        Raises :class:`~asyncwebsockets.exceptions.ProtocolError` on a
        violation; its ``events`` are those completed before the bad frame.
        """
        if self._finished:
            return []
        buf = self._buffer
        if data:
            buf += data
        events: list[Event] = []
        pos = 0
        end = len(buf)
        try:
            while end - pos >= 2:
                b0 = buf[pos]
                b1 = buf[pos + 1]
                opcode = b0 & 0x0F
                self._check_header(b0, b1, opcode)
                length = b1 & 0x7F
                header = 2
                if length >= 126:
                    if length == 126:
                        if end - pos < 4:
                            break
                        length = (buf[pos + 2] << 8) | buf[pos + 3]
                        header = 4
                    else:
                        if end - pos < 10:
                            break
                        length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                        header = 10
                if opcode < OP_CLOSE:
                    self._check_length(length, b0)
                if b1 & 0x80:
                    header += 4
                if end - pos < header + length:
                    break
                start = pos + header
                pos = start + length
                if b1 & 0x80:
                    payload = apply_mask(buf[start:pos], bytes(buf[start - 4 : start]))
                else:
                    payload = bytes(buf[start:pos])
                if opcode < OP_CLOSE:
                    if b0 & 0x40 or self._compressed:
                        event = self._inflated_frame(opcode, b0 & 0x80, payload)
                    else:
                        event = self._data_frame(opcode, b0 & 0x80, payload)
                    if event is not None:
                        events.append(event)
                else:
                    events.append(self._control_frame(opcode, payload))
                    if opcode == OP_CLOSE:
                        self._finished = True
                        break
        except ProtocolError as exc:
            self._finished = True
            exc.events = events
            raise
        finally:
            if self._finished:
                buf.clear()
            elif pos:
                # Deleting a bytearray's prefix is O(1) in CPython: the
                # unread tail is not copied.
                del buf[:pos]
        return events

    def _check_header(self, b0: int, b1: int, opcode: int) -> None:
        """Enforce RFC 6455 section 5.2 on the first two bytes of a frame.

        Everything but the extended length is known from these two bytes, so
        garbage is refused as soon as it arrives.
        """
        if b0 & ~self._allowed_rsv & (RSV1 | RSV2 | RSV3):
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if bool(b1 & 0x80) != self._expect_masked:
            raise ProtocolError(
                CLOSE_PROTOCOL_ERROR,
                "unmasked frame from client" if self._expect_masked else "masked frame from server",
            )
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not b0 & 0x80:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
            if b1 & 0x7F > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame too long")
            if b0 & (RSV1 | RSV2 | RSV3):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set on control frame")
        elif opcode > OP_BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif opcode == OP_CONTINUATION:
            if not self._message_opcode:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame outside a message")
            if b0 & (RSV1 | RSV2 | RSV3):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set on continuation frame")
        elif self._message_opcode:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented message")

    def _check_length(self, length: int, b0: int) -> None:
        """Refuse a data frame by its announced length, before buffering its payload."""
        if length >> 63:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "frame length has its top bit set")
        if self._max_size is not None:
            size = length + self._message_size if self._reassemble else length
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
            self._message_opcode = opcode
        if self._message_opcode == OP_TEXT and not self._validator.feed(payload, bool(fin)):
            raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message")
        self._message += payload
        self._message_size += len(payload)
        if not fin:
            return None
        data = bytes(self._message)
        message_opcode = self._message_opcode
        self._message = bytearray()
        self._message_size = 0
        self._message_opcode = 0
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
            limit = self._max_size - self._message_size
        else:
            limit = self._max_size
        return self._data_frame(opcode, fin, self._inflater.inflate(payload, bool(fin), limit))

    def _stream_frame(self, opcode: int, fin: int, payload: bytes) -> Event:
        """One data frame, delivered without waiting for the rest of its message."""
        if opcode:
            self._message_opcode = opcode
            if opcode == OP_TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        message_opcode = self._message_opcode
        if fin:
            self._message_opcode = 0
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

    def _control_frame(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        return parse_close(payload)
