# The message assembler's C-level interface, for the frame reader in
# _frames.pyx, which calls it once per data frame.  It lives under the
# package's name so that Cython finds it for the compiled module
# asyncwebsockets._messages (csrc/_messages.pyx) and for whoever cimports
# that module.

cimport cython

from utf8_dfa cimport utf8_state


@cython.final
cdef class MessageAssembler:
    # The message in progress: its opcode (0 when none) and the size of
    # its fragments so far (counted as held by the reader).
    cdef readonly int opcode
    cdef readonly Py_ssize_t size
    cdef long long _max_size        # -1: no limit
    cdef bint _reassemble
    cdef bint _stream_once
    cdef bytearray _message
    cdef utf8_state _utf8
    cdef object _decoder
    cdef object _inflater
    cdef bint _compressed

    cpdef check_length(self, unsigned long long length, unsigned char b0)
    cpdef frame_event(self, unsigned char b0, bytes payload)
    cdef bint _compressed_frame_fits(self, unsigned long long length, unsigned char b0)
    cdef object _data_frame(self, int opcode, int fin, bytes payload)
    cdef object _inflated_frame(self, int opcode, int fin, bytes payload)
    cdef object _stream_frame(self, int opcode, int fin, bytes payload)
