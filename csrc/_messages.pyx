# cython: language_level=3
"""The message assembler, compiled twin of ``asyncwebsockets/_messages_py.py``.

The frame reader (``_frames``) cuts the peer's bytes into frames;
:class:`MessageAssembler` turns the payloads of its data frames into
messages: it joins fragments, validates text as UTF-8 across them,
decompresses a compressed message, enforces ``max_message_size`` on the
message rather than the frame, and delivers frames one by one while a
message is streamed.  The reader calls it at C level, through
``csrc/asyncwebsockets/_messages.pxd``.
"""

import codecs

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyObject_GenericSetAttr, PyTypeObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcpy

from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets._fragment import Fragment
from asyncwebsockets.exceptions import ProtocolError

from protocol cimport (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    OP_BINARY,
    OP_TEXT,
    RSV1,
)
from utf8_dfa cimport utf8_feed, utf8_reset

cdef extern from "Python.h":
    PyTypeObject PyBaseObject_Type

cdef object _EMPTY_ARGS = ()
cdef object _DATA = "data"
cdef object _FRAME_FINISHED = "frame_finished"
cdef object _MESSAGE_FINISHED = "message_finished"
cdef object _TextMessage = TextMessage
cdef object _BytesMessage = BytesMessage


cdef inline object _message(object cls, object data):
    # Frozen-dataclass __init__ pays for a Python-level call and three
    # object.__setattr__ lookups; this is object.__new__ plus the three
    # stores, which is what that __init__ ends up doing.
    cdef object event = PyBaseObject_Type.tp_new(cls, <PyObject *>_EMPTY_ARGS, NULL)
    PyObject_GenericSetAttr(event, _DATA, data)
    PyObject_GenericSetAttr(event, _FRAME_FINISHED, True)
    PyObject_GenericSetAttr(event, _MESSAGE_FINISHED, True)
    return event


cdef class MessageAssembler:
    """Messages out of the data frames of one peer, for :class:`~asyncwebsockets._frames.FrameReader`.

    ``max_message_size``, ``reassemble`` and ``inflater`` are the reader's
    arguments of the same names; the reader checks each data frame's
    header against the message in progress (:attr:`opcode`) and its length
    with :meth:`check_length`, then hands over its payload to
    :meth:`frame_event`.
    """

    def __init__(self, max_message_size=1 << 20, bint reassemble=True, inflater=None):
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        self._max_size = -1 if max_message_size is None else min(max_message_size, (1 << 62))
        self._reassemble = reassemble
        self._stream_once = False
        self.opcode = 0
        # Fragments are joined as they come: a list of a million tiny ones
        # would cost far more memory than their bytes.
        self._message = bytearray()
        self.size = 0
        utf8_reset(&self._utf8)
        self._decoder = None
        self._inflater = inflater
        # Whether the message being received is compressed (RFC 7692
        # section 6: only its first frame carries RSV1).
        self._compressed = False

    @property
    def streaming(self):
        """True from :meth:`stream_message` until the last frame of that message is assembled."""
        return self._stream_once

    def stream_message(self):
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
        cdef bytes data
        if self._stream_once or not self._reassemble:
            raise RuntimeError("the reader is already delivering frames as they come")
        self._reassemble = False
        self._stream_once = True
        if not self.opcode:
            return None
        data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self._message), self.size)
        self._message = bytearray()
        self.size = 0
        if self.opcode == OP_TEXT:
            # The validator has seen these bytes; the decoder keeps a
            # trailing incomplete character for the next frame.
            self._decoder = codecs.getincrementaldecoder("utf-8")()
            return Fragment(self._decoder.decode(data, False), False)
        return Fragment(data, False)

    def cancel_stream(self):
        """Undo :meth:`stream_message` if no frame of that message has come yet; whether it was undone."""
        if not self._stream_once or self.opcode:
            return False
        self._stream_once = False
        self._reassemble = True
        return True

    cpdef check_length(self, unsigned long long length, unsigned char b0):
        """Refuse a data frame by its announced length, before its payload is buffered."""
        cdef unsigned long long size
        if length >> 63:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "frame length has its top bit set")
        if self._max_size >= 0:
            size = length + <unsigned long long>self.size if self._reassemble else length
            if size > <unsigned long long>self._max_size and not self._compressed_frame_fits(length, b0):
                raise ProtocolError(CLOSE_MESSAGE_TOO_BIG, f"message exceeds {self._max_size} bytes")

    cdef bint _compressed_frame_fits(self, unsigned long long length, unsigned char b0):
        """Whether a compressed frame may be buffered although the plain rule refuses it.

        A compressed frame's size says nothing about its message's: the
        frame is bounded alone, and the decompressed message as it is
        decompressed.  The margin is deflate's framing of incompressible
        data (5 bytes per stored block of at most 64 KiB, and the flush).
        """
        cdef bint compressed = (b0 & RSV1) != 0 if b0 & 0x0F else self._compressed
        if self._inflater is None:
            return False
        return compressed and length <= <unsigned long long>(self._max_size + (self._max_size >> 12) + 64)

    cpdef frame_event(self, unsigned char b0, bytes payload):
        """Take a data frame's first byte and payload; return the event it completes, if any."""
        if b0 & RSV1 or self._compressed:
            return self._inflated_frame(b0 & 0x0F, b0 & 0x80, payload)
        return self._data_frame(b0 & 0x0F, b0 & 0x80, payload)

    cdef object _data_frame(self, int opcode, int fin, bytes payload):
        cdef Py_ssize_t size
        cdef Py_ssize_t old
        cdef bytes data
        cdef int message_opcode
        if not self._reassemble:
            return self._stream_frame(opcode, fin, payload)
        if fin and opcode:
            # The common case: a whole message in one frame.
            if opcode == OP_TEXT:
                try:
                    return _message(_TextMessage, PyUnicode_DecodeUTF8(
                        PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), NULL))
                except UnicodeDecodeError:
                    raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message") from None
            return _message(_BytesMessage, payload)
        if opcode:
            self.opcode = opcode
        size = PyBytes_GET_SIZE(payload)
        if self.opcode == OP_TEXT:
            if not utf8_feed(&self._utf8, <const unsigned char *>PyBytes_AS_STRING(payload), size) or (
                fin and self._utf8.need
            ):
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message")
        old = PyByteArray_GET_SIZE(self._message)
        PyByteArray_Resize(self._message, old + size)
        memcpy(PyByteArray_AS_STRING(self._message) + old, PyBytes_AS_STRING(payload), size)
        self.size += size
        if not fin:
            return None
        data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self._message), self.size)
        message_opcode = self.opcode
        self._message = bytearray()
        self.size = 0
        self.opcode = 0
        if message_opcode == OP_TEXT:
            utf8_reset(&self._utf8)
            # Already validated fragment by fragment.
            return _message(_TextMessage, PyUnicode_DecodeUTF8(
                PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), NULL))
        return _message(_BytesMessage, data)

    cdef object _inflated_frame(self, int opcode, int fin, bytes payload):
        """A frame of a compressed message: decompressed, then handled like any other."""
        if self._inflater is None:
            # RSV1 was allowed for an extension of the caller's: its
            # payload is passed on as it is.
            return self._data_frame(opcode, fin, payload)
        cdef long long limit
        if opcode:
            self._compressed = True
        if fin:
            self._compressed = False
        if self._max_size < 0:
            limit = -1
        elif self._reassemble:
            limit = self._max_size - self.size
        else:
            limit = self._max_size
        return self._data_frame(opcode, fin, self._inflater.inflate(payload, bool(fin), limit))

    cdef object _stream_frame(self, int opcode, int fin, bytes payload):
        """One data frame, delivered without waiting for the rest of its message."""
        cdef int message_opcode
        cdef object data
        if opcode:
            self.opcode = opcode
            if opcode == OP_TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
        message_opcode = self.opcode
        if fin:
            self.opcode = 0
        if message_opcode == OP_BINARY:
            data = payload
        else:
            if not utf8_feed(&self._utf8, <const unsigned char *>PyBytes_AS_STRING(payload),
                             PyBytes_GET_SIZE(payload)) or (fin and self._utf8.need):
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in text message")
            data = self._decoder.decode(payload, bool(fin))
            if fin:
                utf8_reset(&self._utf8)
                self._decoder = None
        if self._stream_once:
            if fin:
                # That message is done: reassemble again from the next one.
                self._stream_once = False
                self._reassemble = True
            return Fragment(data, bool(fin))
        if message_opcode == OP_BINARY:
            return BytesMessage(data, True, bool(fin))
        return TextMessage(data, True, bool(fin))
