# cython: language_level=3
"""Payload masking (RFC 6455 section 5.3), compiled twin of ``asyncwebsockets/_mask_py.py``.

The XOR runs in the SIMD kernels of ``mask_kernels.h``, chosen at run time
for the CPU.  Large payloads are masked without the GIL.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

cdef extern from "mask_kernels.h":
    void aws_mask(const unsigned char *src, unsigned char *dst, size_t n,
                  const unsigned char *key, unsigned int offset) nogil
    const char *aws_mask_kernel_name()

# Below this size releasing the GIL costs more than the XOR itself.
DEF NOGIL_THRESHOLD = 65536

# Probe the CPU now, while the import runs in one thread, so that the
# kernel choice is never written by two threads at once later.
aws_mask_kernel_name()


cdef inline int _copy_key(object mask, unsigned char *key) except -1:
    """Copy the 4 key bytes out of ``mask`` (bytes or any buffer)."""
    cdef Py_buffer view
    if type(mask) is bytes:
        if PyBytes_GET_SIZE(mask) != 4:
            raise ValueError("mask must be 4 bytes")
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 0
    PyObject_GetBuffer(mask, &view, PyBUF_SIMPLE)
    try:
        if view.len != 4:
            raise ValueError("mask must be 4 bytes")
        memcpy(key, view.buf, 4)
    finally:
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
    cdef bint own_view = type(data) is not bytes
    cdef bytes result
    cdef unsigned char *dst
    _copy_key(mask, key)
    if own_view:
        PyObject_GetBuffer(data, &data_view, PyBUF_SIMPLE)
        src = <const unsigned char *>data_view.buf
        size = data_view.len
    else:
        src = <const unsigned char *>PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    try:
        result = PyBytes_FromStringAndSize(NULL, size)
        dst = <unsigned char *>PyBytes_AS_STRING(result)
        if size >= NOGIL_THRESHOLD:
            with nogil:
                aws_mask(src, dst, <size_t>size, key, <unsigned int>(offset & 3))
        else:
            aws_mask(src, dst, <size_t>size, key, <unsigned int>(offset & 3))
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
        if view.len >= NOGIL_THRESHOLD:
            with nogil:
                aws_mask(<const unsigned char *>view.buf, <unsigned char *>view.buf,
                         <size_t>view.len, key, <unsigned int>(offset & 3))
        else:
            aws_mask(<const unsigned char *>view.buf, <unsigned char *>view.buf,
                     <size_t>view.len, key, <unsigned int>(offset & 3))
    finally:
        PyBuffer_Release(&view)


def kernel_name():
    """Which masking kernel this CPU runs ("avx2", "sse2" or "words")."""
    return aws_mask_kernel_name().decode("ascii")
