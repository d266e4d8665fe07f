# cython: language_level=3
"""The frame reader, compiled twin of ``asyncwebsockets/_frames_py.py``.

:class:`FrameReader` turns the bytes one peer sends into wsproto events,
enforcing RFC 6455 section 5 as it goes (what we send is framed by
``_frame_writer``); the payloads of data frames become messages in
``_messages``.  It mirrors the pure-Python twin method for method, with
the same checks in the same order and the same error texts; the tests
compare the two on random input.

What the compiled reader adds is memory handling: complete frames are
parsed straight out of the caller's chunk; only a trailing partial frame is
copied, into one growing C buffer that is compacted instead of re-copied;
each payload is unmasked while being copied into its final ``bytes``.  A
large frame that arrives over several chunks skips the buffer: once its
header is in, its payload ``bytes`` is allocated at full size and each
chunk is unmasked straight into it, so its bytes are copied once however
many reads bring them.  :meth:`FrameReader.receive_buffer` lets a
transport read the rest of such a frame into its payload itself, so that
those bytes are not copied at all (a masked payload is unmasked in place).
"""

from cpython.buffer cimport PyBuffer_FillInfo, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy, memmove

from wsproto.events import Ping, Pong

from asyncwebsockets.exceptions import ProtocolError
from asyncwebsockets.protocol import parse_close

from asyncwebsockets._messages cimport MessageAssembler
from buffers cimport get_bytes
from mask cimport aws_mask_kernel_name, mask_into
from protocol cimport (
    CLOSE_PROTOCOL_ERROR,
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    RSV1,
    RSV_ALL,
)

# Each module has its own copy of the kernel choice in mask_kernels.h;
# probe the CPU during the import, as _mask.pyx does, so no two threads
# ever race to fill it in.
aws_mask_kernel_name()

# The reader's buffer shrinks back to this after holding a large frame.
DEF IDLE_BUFFER = 16384
# An incomplete frame with at least this much payload is read straight into
# its final bytes object instead of the buffer.  (The payload's memory is
# allocated at once but touched only as data arrives, so what a peer can
# make us hold still grows with what it sends.)  Frames announced beyond
# DIRECT_PAYLOAD_MAX (possible only with a raised or no size limit) take the
# buffer, which grows only as their bytes arrive, address space included.
DEF DIRECT_PAYLOAD = 16384
DEF DIRECT_PAYLOAD_MAX = 64 * 1024 * 1024
# receive_buffer() offers the rest of such a payload only when this much of
# it is still to come: for less, the extra read that stops at its end costs
# more than copying it out of a read that also brings what follows.
DEF RECEIVE_BUFFER_MIN = 65536

cdef class _PayloadRest:
    """The part of a large frame's payload that has not arrived yet, as writable memory.

    Exported through the buffer protocol so that a transport can
    ``recv_into`` it; holding the payload, it keeps that memory alive for
    as long as anyone has a view of it, whatever the reader does meanwhile.
    """
    cdef bytes _payload
    cdef Py_ssize_t _offset

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        PyBuffer_FillInfo(buffer, self, PyBytes_AS_STRING(self._payload) + self._offset,
                          PyBytes_GET_SIZE(self._payload) - self._offset, 0, flags)

    def __releasebuffer__(self, Py_buffer *buffer):
        pass


cdef class FrameReader:
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

    # Unparsed input: bytes [_start, _end) of a buffer of _capacity bytes.
    cdef unsigned char *_buf
    cdef Py_ssize_t _start
    cdef Py_ssize_t _end
    cdef Py_ssize_t _capacity
    cdef bint _expect_masked
    cdef int _allowed_rsv
    cdef MessageAssembler _messages
    cdef bint _finished
    # A large frame being read straight into its payload (see
    # DIRECT_PAYLOAD): the payload (None when there is none), how much of
    # it has arrived, the length of its header (counted as held, like the
    # payload), the frame's first byte and its masking key.
    cdef bytes _direct
    cdef Py_ssize_t _direct_have
    cdef Py_ssize_t _direct_header
    cdef unsigned char _direct_b0
    cdef bint _direct_masked
    cdef unsigned char _direct_key[4]

    def __cinit__(self):
        self._buf = NULL
        self._start = 0
        self._end = 0
        self._capacity = 0

    def __init__(self, *, bint expect_masked, max_message_size=1 << 20,
                 bint reassemble=True, int allowed_rsv=0, inflater=None):
        self._messages = MessageAssembler(max_message_size, reassemble, inflater)
        self._expect_masked = expect_masked
        self._allowed_rsv = allowed_rsv & RSV_ALL
        if inflater is not None:
            self._allowed_rsv |= RSV1
        self._finished = False
        self._direct = None
        self._direct_have = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def buffered(self):
        """Bytes held: unparsed input plus the fragments of an unfinished message."""
        cdef Py_ssize_t direct = 0
        if self._direct is not None:
            direct = self._direct_header + self._direct_have
        return (self._end - self._start) + self._messages.size + direct

    def receive_buffer(self):
        """Where the next bytes from the peer may be read to, or None for anywhere.

        While a large frame is being read straight into its payload (and
        enough of it is still to come), this is a writable memoryview of
        the rest of that payload.  Read into it, then :meth:`feed` the part
        that was filled (a slice of the same view): bytes found already in
        place are not copied, only unmasked where they lie.  Bytes fed from
        anywhere else are copied as usual, so a caller that reads elsewhere
        after all loses nothing but the saving.
        """
        cdef _PayloadRest rest
        if self._direct is None or PyBytes_GET_SIZE(self._direct) - self._direct_have < RECEIVE_BUFFER_MIN:
            return None
        rest = _PayloadRest.__new__(_PayloadRest)
        rest._payload = self._direct
        rest._offset = self._direct_have
        return memoryview(rest)

    @property
    def finished(self):
        """True once a close frame or a protocol error ended the stream."""
        return self._finished

    @property
    def streaming(self):
        """True from :meth:`stream_message` until the last frame of that message is parsed."""
        return self._messages.streaming

    def stream_message(self):
        """Deliver the message in progress, or else the next one, frame by frame.

        Returns what of that message was already received, as a
        :class:`~asyncwebsockets._fragment.Fragment`, or None; see
        :meth:`MessageAssembler.stream_message`.
        """
        return self._messages.stream_message()

    def cancel_stream(self):
        """Undo :meth:`stream_message` if no frame of that message has come yet; whether it was undone."""
        return self._messages.cancel_stream()

    def feed(self, data):
        """Take the next bytes from the peer; return the events they complete.

        Raises :class:`~asyncwebsockets.exceptions.ProtocolError` on a
        violation; its ``events`` are those completed before the bad frame.
        """
        cdef list events = []
        cdef Py_buffer view
        cdef const unsigned char *src
        cdef Py_ssize_t size
        cdef Py_ssize_t used
        cdef bint own_view
        if self._finished:
            return events
        own_view = get_bytes(data, &view, &src, &size)
        try:
            if self._direct is not None:
                used = self._continue_direct(src, size, events)
                src += used
                size -= used
            if self._direct is None and not self._finished:
                if self._end == self._start:
                    # Nothing held back: parse the caller's bytes where they
                    # are and keep only an incomplete frame at their end.
                    used = self._parse(src, size, events)
                    if not self._finished and used < size:
                        self._store(src + used, size - used)
                else:
                    self._store(src, size)
                    used = self._parse(self._buf + self._start, self._end - self._start, events)
                    self._start += used
                    if self._start == self._end:
                        self._start = self._end = 0
                        if self._capacity > IDLE_BUFFER:
                            self._shrink()
        except ProtocolError as exc:
            self._finished = True
            exc.events = events
            raise
        finally:
            if own_view:
                PyBuffer_Release(&view)
            if self._finished:
                self._start = self._end = 0
                self._shrink()
                self._direct = None
                self._direct_have = 0
        return events

    cdef Py_ssize_t _start_direct(self, unsigned char b0, unsigned char b1, const unsigned char *frame,
                                  Py_ssize_t header, unsigned long long length, Py_ssize_t available) except -1:
        """Begin reading a large frame into its payload; ``available`` bytes of it are here."""
        self._direct = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>length)
        self._direct_have = 0
        self._direct_header = header
        self._direct_b0 = b0
        self._direct_masked = bool(b1 & 0x80)
        if self._direct_masked:
            memcpy(self._direct_key, frame + header - 4, 4)
        self._copy_direct(frame + header, available)
        return 0

    cdef void _copy_direct(self, const unsigned char *src, Py_ssize_t size):
        # src is dst when the bytes were read into receive_buffer().
        cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(self._direct) + self._direct_have
        if self._direct_masked:
            mask_into(src, dst, <size_t>size, self._direct_key, <unsigned int>(self._direct_have & 3))
        elif src != dst:
            memmove(dst, src, size)
        self._direct_have += size

    cdef Py_ssize_t _continue_direct(self, const unsigned char *src, Py_ssize_t size, list events) except -1:
        """Add input to the frame being read directly; returns how much it took."""
        cdef Py_ssize_t take = PyBytes_GET_SIZE(self._direct) - self._direct_have
        cdef bytes payload
        cdef object event
        if take > size:
            take = size
        self._copy_direct(src, take)
        if self._direct_have == PyBytes_GET_SIZE(self._direct):
            payload = self._direct
            self._direct = None
            self._direct_have = 0
            # Only data frames get here: control frames are at most 125 bytes.
            event = self._messages.frame_event(self._direct_b0, payload)
            if event is not None:
                events.append(event)
        return take

    cdef int _store(self, const unsigned char *src, Py_ssize_t size) except -1:
        """Append to the unparsed input, compacting before growing."""
        cdef Py_ssize_t held = self._end - self._start
        cdef Py_ssize_t needed = held + size
        cdef Py_ssize_t capacity
        cdef unsigned char *grown
        if self._end + size > self._capacity:
            if self._start and needed <= self._capacity:
                memmove(self._buf, self._buf + self._start, held)
            else:
                capacity = max(needed, self._capacity * 2, 4096)
                grown = <unsigned char *>PyMem_Malloc(capacity)
                if grown == NULL:
                    raise MemoryError()
                if held:
                    memcpy(grown, self._buf + self._start, held)
                PyMem_Free(self._buf)
                self._buf = grown
                self._capacity = capacity
            self._start = 0
            self._end = held
        memcpy(self._buf + self._end, src, size)
        self._end += size
        return 0

    cdef void _shrink(self):
        # Called with nothing held: a big frame's buffer is not kept around
        # by an idle connection.
        if self._capacity > IDLE_BUFFER:
            PyMem_Free(self._buf)
            self._buf = NULL
            self._capacity = 0

    cdef Py_ssize_t _parse(self, const unsigned char *p, Py_ssize_t n, list events) except -1:
        """Parse complete frames from ``p[0:n]``; returns how many bytes they took."""
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t header
        cdef unsigned long long length
        cdef unsigned char b0, b1
        cdef int opcode
        cdef bytes payload
        cdef unsigned char *dst
        cdef object event
        cdef int i
        while n - pos >= 2:
            b0 = p[pos]
            b1 = p[pos + 1]
            opcode = b0 & 0x0F
            self._check_header(b0, b1, opcode)
            length = b1 & 0x7F
            header = 2
            if length >= 126:
                if length == 126:
                    if n - pos < 4:
                        break
                    length = (<unsigned long long>p[pos + 2] << 8) | p[pos + 3]
                    header = 4
                else:
                    if n - pos < 10:
                        break
                    length = 0
                    for i in range(8):
                        length = (length << 8) | p[pos + 2 + i]
                    header = 10
            if opcode < OP_CLOSE:
                self._messages.check_length(length, b0)
            if b1 & 0x80:
                header += 4
            if n - pos < header:
                break
            if <unsigned long long>(n - pos - header) < length:
                if DIRECT_PAYLOAD <= length <= DIRECT_PAYLOAD_MAX:
                    self._start_direct(b0, b1, p + pos, header, length, n - pos - header)
                    pos = n
                break
            payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>length)
            dst = <unsigned char *>PyBytes_AS_STRING(payload)
            if b1 & 0x80:
                mask_into(p + pos + header, dst, <size_t>length, p + pos + header - 4, 0)
            else:
                memcpy(dst, p + pos + header, <size_t>length)
            pos += header + <Py_ssize_t>length
            if opcode < OP_CLOSE:
                event = self._messages.frame_event(b0, payload)
                if event is not None:
                    events.append(event)
            else:
                events.append(self._control_frame(opcode, payload))
                if opcode == OP_CLOSE:
                    self._finished = True
                    break
        return pos

    cdef int _check_header(self, unsigned char b0, unsigned char b1, int opcode) except -1:
        """Enforce RFC 6455 section 5.2 on the first two bytes of a frame.

        Everything but the extended length is known from these two bytes, so
        garbage is refused as soon as it arrives.
        """
        if b0 & ~self._allowed_rsv & RSV_ALL:
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
            if b0 & RSV_ALL:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set on control frame")
        elif opcode > OP_BINARY:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif opcode == OP_CONTINUATION:
            if not self._messages.opcode:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame outside a message")
            if b0 & RSV_ALL:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set on continuation frame")
        elif self._messages.opcode:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented message")
        return 0

    cdef object _control_frame(self, int opcode, bytes payload):
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        return parse_close(payload)
