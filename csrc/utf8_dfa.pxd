# UTF-8 validation state machine, shared by _utf8.pyx and _frames.pyx.
#
# It follows the table of RFC 3629 section 4, which rules out overlong
# forms, surrogates and code points past U+10FFFF from the second byte of a
# sequence on, so an invalid stream is caught at its first bad byte; a fast
# path skips eight ASCII bytes at a time.

from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef struct utf8_state:
    int need            # continuation bytes still expected
    unsigned char lo    # the range the next continuation byte must be in
    unsigned char hi


cdef inline void utf8_reset(utf8_state *state) noexcept nogil:
    state.need = 0
    state.lo = 0x80
    state.hi = 0xBF


cdef inline bint utf8_feed(utf8_state *state, const unsigned char *data, Py_ssize_t size) noexcept nogil:
    """Advance the state over ``data``; False at the first invalid byte."""
    cdef Py_ssize_t i = 0
    cdef unsigned char b
    cdef uint64_t word
    cdef int need = state.need
    cdef unsigned char lo = state.lo, hi = state.hi
    while i < size:
        if need == 0:
            # Between characters: skip ASCII eight bytes at a time.
            while i + 8 <= size:
                memcpy(&word, data + i, 8)
                if word & 0x8080808080808080ULL:
                    break
                i += 8
            if i >= size:
                break
            b = data[i]
            i += 1
            if b < 0x80:
                continue
            if 0xC2 <= b <= 0xDF:
                need = 1
                lo = 0x80
                hi = 0xBF
            elif b == 0xE0:
                need = 2
                lo = 0xA0
                hi = 0xBF
            elif b == 0xED:
                need = 2
                lo = 0x80
                hi = 0x9F
            elif 0xE1 <= b <= 0xEF:
                need = 2
                lo = 0x80
                hi = 0xBF
            elif b == 0xF0:
                need = 3
                lo = 0x90
                hi = 0xBF
            elif 0xF1 <= b <= 0xF3:
                need = 3
                lo = 0x80
                hi = 0xBF
            elif b == 0xF4:
                need = 3
                lo = 0x80
                hi = 0x8F
            else:
                return False
        else:
            b = data[i]
            i += 1
            if b < lo or b > hi:
                return False
            need -= 1
            lo = 0x80
            hi = 0xBF
    state.need = need
    state.lo = lo
    state.hi = hi
    return True
