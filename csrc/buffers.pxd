# Reading the bytes of whatever the caller passed, for the compiled
# modules.  bytes, by far the most common argument, is read in place,
# without the buffer protocol's acquire/release round trip; anything else
# that exports a buffer (bytearray, memoryview, mmap...) goes through it.

from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE


cdef inline int get_bytes(object data, Py_buffer *view, const unsigned char **src,
                          Py_ssize_t *size) except -1:
    """Point ``src`` and ``size`` at the bytes of ``data``.

    Returns 1 when ``view`` was filled and must be given back with
    ``PyBuffer_Release``, 0 for bytes, which need nothing released.
    """
    if type(data) is bytes:
        src[0] = <const unsigned char *>PyBytes_AS_STRING(data)
        size[0] = PyBytes_GET_SIZE(data)
        return 0
    PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    src[0] = <const unsigned char *>view.buf
    size[0] = view.len
    return 1
