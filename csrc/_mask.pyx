# cython: language_level=3
"""Payload masking (RFC 6455 section 5.3), compiled twin of ``asyncwebsockets/_mask_py.py``.

The XOR runs in the SIMD kernels of ``mask_kernels.h``, chosen at run time
for the CPU.  Large payloads are masked without the GIL.
"""

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

from buffers cimport get_bytes
from mask cimport aws_mask_kernel_name, mask_into

# Probe the CPU now, while the import runs in one thread, so that the
# kernel choice is never written by two threads at once later.
aws_mask_kernel_name()


cdef inline int _copy_key(object mask, unsigned char *key) except -1:
    """Copy the 4 key bytes out of ``mask`` (bytes or any buffer)."""
    cdef Py_buffer view
    cdef const unsigned char *src
    cdef Py_ssize_t size
    cdef bint own_view = get_bytes(mask, &view, &src, &size)
    try:
        if size != 4:
            raise ValueError("mask must be 4 bytes")
        memcpy(key, src, 4)
    finally:
        if own_view:
            PyBuffer_Release(&view)
    return 0


def apply_mask(data, mask, Py_ssize_t offset=0):
    """Return ``data`` XOR-ed with ``mask`` repeated, starting at key byte ``offset``.

    ``offset`` lets a payload that arrives in pieces be unmasked piece by
    piece: it is the payload position of ``data[0]``, taken modulo 4.
    """
    cdef unsigned char key[4]
    cdef Py_buffer data_view
    cdef const unsigned char *src
    cdef Py_ssize_t size
    cdef bint own_view
    cdef bytes result
    _copy_key(mask, key)
    own_view = get_bytes(data, &data_view, &src, &size)
    try:
        result = PyBytes_FromStringAndSize(NULL, size)
        mask_into(src, <unsigned char *>PyBytes_AS_STRING(result), <size_t>size, key, <unsigned int>(offset & 3))
        return result
    finally:
        if own_view:
            PyBuffer_Release(&data_view)


def apply_mask_inplace(buffer, mask, Py_ssize_t offset=0):
    """XOR a writable buffer with ``mask`` in place; see :func:`apply_mask`."""
    cdef unsigned char key[4]
    cdef Py_buffer view
    _copy_key(mask, key)
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    except BufferError:
        raise TypeError("apply_mask_inplace needs a writable buffer") from None
    try:
        mask_into(<const unsigned char *>view.buf, <unsigned char *>view.buf,
                  <size_t>view.len, key, <unsigned int>(offset & 3))
    finally:
        PyBuffer_Release(&view)


def kernel_name():
    """Which masking kernel this CPU runs ("avx2", "sse2" or "words"; the pure twin says "python")."""
    return aws_mask_kernel_name().decode("ascii")
