# cython: language_level=3
"""The frame writer, compiled twin of ``asyncwebsockets/_frame_writer_py.py``.

:class:`FrameWriter` turns what we send into frames, header and (masked)
payload in one buffer; it mirrors its pure-Python twin method for method.
"""

import os

from cpython.buffer cimport PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

from asyncwebsockets.protocol import serialize_close

from buffers cimport get_bytes
from mask cimport aws_mask_kernel_name, mask_into
from protocol cimport OP_CLOSE, RSV_ALL

# Each module has its own copy of the kernel choice in mask_kernels.h;
# probe the CPU during the import, as _mask.pyx does, so no two threads
# ever race to fill it in.
aws_mask_kernel_name()

DEF MASK_POOL_SIZE = 4096
# From this size on, frame_parts() leaves an unmasked bytes payload where it
# is: copying it into the frame costs more than writing two pieces.
DEF SEPARATE_PAYLOAD = 65536


cdef inline Py_ssize_t _header_size(Py_ssize_t length, bint mask) noexcept:
    return (2 if length < 126 else (4 if length < 65536 else 10)) + (4 if mask else 0)


cdef inline void _put_header(unsigned char *dst, int opcode, bint fin, int rsv, Py_ssize_t length, bint mask) noexcept:
    """The header's first two bytes and extended length at ``dst`` (the key, if any, is the caller's)."""
    cdef int i
    dst[0] = (0x80 if fin else 0) | (rsv & RSV_ALL) | (opcode & 0x0F)
    if length < 126:
        dst[1] = <unsigned char>length
    elif length < 65536:
        dst[1] = 126
        dst[2] = <unsigned char>(length >> 8)
        dst[3] = <unsigned char>length
    else:
        dst[1] = 127
        for i in range(8):
            dst[2 + i] = <unsigned char>((<unsigned long long>length) >> (56 - 8 * i))
    if mask:
        dst[1] |= 0x80


cdef class FrameWriter:
    """Builds the frames we send: header and (masked) payload in one buffer.

    A client must mask every frame with a fresh, unpredictable key (RFC 6455
    section 5.3).  Keys come from ``os.urandom`` in batches: one system call
    per thousand frames instead of one per frame.
    """

    cdef bint _mask
    cdef bytes _pool
    cdef Py_ssize_t _pool_pos

    def __init__(self, *, bint mask):
        self._mask = mask
        self._pool = b""
        self._pool_pos = MASK_POOL_SIZE

    cdef const unsigned char *_next_key(self) except NULL:
        cdef Py_ssize_t pos
        if self._pool_pos >= MASK_POOL_SIZE:
            self._pool = os.urandom(MASK_POOL_SIZE)
            self._pool_pos = 0
        pos = self._pool_pos
        self._pool_pos = pos + 4
        return <const unsigned char *>PyBytes_AS_STRING(self._pool) + pos

    def frame(self, int opcode, payload, bint fin=True, int rsv=0):
        """Serialize one frame."""
        cdef Py_buffer view
        cdef const unsigned char *src
        cdef Py_ssize_t length
        cdef Py_ssize_t header
        cdef bytes out
        cdef unsigned char *dst
        cdef const unsigned char *key
        cdef bint own_view = get_bytes(payload, &view, &src, &length)
        try:
            header = _header_size(length, self._mask)
            out = PyBytes_FromStringAndSize(NULL, header + length)
            dst = <unsigned char *>PyBytes_AS_STRING(out)
            _put_header(dst, opcode, fin, rsv, length, self._mask)
            if self._mask:
                key = self._next_key()
                memcpy(dst + header - 4, key, 4)
                mask_into(src, dst + header, <size_t>length, key, 0)
            else:
                memcpy(dst + header, src, length)
            return out
        finally:
            if own_view:
                PyBuffer_Release(&view)

    def frame_parts(self, int opcode, payload, bint fin=True, int rsv=0):
        """One frame: as :meth:`frame` builds it, or as its header and the payload itself.

        The second, a tuple, for an unmasked ``bytes`` payload of 64 KiB or
        more: written one after the other, the two pieces are the frame,
        and the payload is not copied.  A masked payload is copied while
        it is masked anyway, and a mutable one could change before a
        transport has written it.
        """
        cdef bytes header
        cdef Py_ssize_t length
        if self._mask or type(payload) is not bytes or len(payload) < SEPARATE_PAYLOAD:
            return self.frame(opcode, payload, fin, rsv)
        length = len(payload)
        header = PyBytes_FromStringAndSize(NULL, _header_size(length, False))
        _put_header(<unsigned char *>PyBytes_AS_STRING(header), opcode, fin, rsv, length, False)
        return header, payload

    def close(self, code=1000, str reason=""):
        """Serialize a close frame; ``code=None`` sends one with no payload.

        Refuses codes that may not go on the wire, so 1005/1006/1015 never do.
        """
        return self.frame(OP_CLOSE, serialize_close(code, reason))
