"""The frame reader, pure-Python twin of ``csrc/_frames.pyx``.

:class:`FrameReader` turns the bytes one peer sends into wsproto events,
enforcing RFC 6455 section 5 as it goes (what we send is framed by
:mod:`._frame_writer_py`); the payloads of data frames become messages in
:mod:`._messages_py`.  Everything above this (handshake, close states,
who answers pings) is the connection's business, not the codec's.

It mirrors its compiled twin method for method; keep them so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsproto.events import Event, Ping, Pong

from ._fragment import Fragment
from ._mask_py import apply_mask
from ._messages_py import MessageAssembler
from .exceptions import ProtocolError
from .protocol import (
    CLOSE_PROTOCOL_ERROR,
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    RSV1,
    RSV2,
    RSV3,
    parse_close,
)

if TYPE_CHECKING:
    from .deflate import MessageInflater

Buffer = bytes | bytearray | memoryview


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
    reassembly resumes after its last frame.

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
        "_allowed_rsv",
        "_messages",
        "_finished",
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
        self._messages = MessageAssembler(max_message_size, reassemble, inflater)
        self._buffer = bytearray()
        self._expect_masked = expect_masked
        self._allowed_rsv = allowed_rsv & (RSV1 | RSV2 | RSV3)
        if inflater is not None:
            self._allowed_rsv |= RSV1
        self._finished = False

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus the fragments of an unfinished message."""
        return len(self._buffer) + self._messages.size

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
        return self._messages.streaming

    def stream_message(self) -> Fragment | None:
        """Deliver the message in progress, or else the next one, frame by frame.

        Returns what of that message was already received, as a
        :class:`~asyncwebsockets._fragment.Fragment`, or None; see
        :meth:`MessageAssembler.stream_message`.
        """
        return self._messages.stream_message()

    def cancel_stream(self) -> bool:
        """Undo :meth:`stream_message` if no frame of that message has come yet; whether it was undone."""
        return self._messages.cancel_stream()

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
        # Bound once: the loop calls both for every data frame.
        check_length = self._messages.check_length
        frame_event = self._messages.frame_event
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
                    check_length(length, b0)
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
                    event = frame_event(b0, payload)
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
            if not self._messages.opcode:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame outside a message")
            if b0 & (RSV1 | RSV2 | RSV3):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set on continuation frame")
        elif self._messages.opcode:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented message")

    def _control_frame(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        return parse_close(payload)
