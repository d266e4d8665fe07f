# cython: language_level=3
"""UTF-8 validation, compiled twin of ``asyncwebsockets/_utf8_py.py``.

The state machine itself is in ``utf8_dfa.pxd``, shared with the frame
codec.  It fails on the first byte that makes the stream invalid, as RFC
6455 section 8.1 asks.
"""

from cpython.buffer cimport PyBuffer_Release

from buffers cimport get_bytes
from utf8_dfa cimport utf8_feed, utf8_reset, utf8_state


def is_utf8(data):
    """Whether ``data`` is complete, valid UTF-8."""
    cdef utf8_state state
    cdef Py_buffer view
    cdef const unsigned char *src
    cdef Py_ssize_t size
    cdef bint ok
    cdef bint own_view
    utf8_reset(&state)
    own_view = get_bytes(data, &view, &src, &size)
    # utf8_feed cannot raise: no try/finally needed around it.
    ok = utf8_feed(&state, src, size)
    if own_view:
        PyBuffer_Release(&view)
    return ok and state.need == 0


cdef class Utf8Validator:
    """Validates a byte stream fed in pieces, failing on the first bad byte."""

    cdef utf8_state _state
    cdef bint _valid

    def __init__(self):
        utf8_reset(&self._state)
        self._valid = True

    def feed(self, data, bint final=False):
        """Take the next piece; False once the stream cannot be valid UTF-8.

        With ``final`` the stream ends here, so an incomplete code point at
        its end is invalid too.
        """
        cdef Py_buffer view
        cdef const unsigned char *src
        cdef Py_ssize_t size
        cdef bint own_view
        if self._valid:
            own_view = get_bytes(data, &view, &src, &size)
            self._valid = utf8_feed(&self._state, src, size)
            if own_view:
                PyBuffer_Release(&view)
            if final and self._state.need:
                self._valid = False
        return self._valid

    def reset(self):
        """Start a new stream."""
        utf8_reset(&self._state)
        self._valid = True
