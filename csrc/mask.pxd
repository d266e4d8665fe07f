# Payload masking for the compiled modules that mask (_mask.pyx and
# _frames.pyx): the kernels of mask_kernels.h, and when to let other
# threads run meanwhile.
#
# Each module that cimports this gets its own copy of the kernel choice in
# mask_kernels.h; it should call aws_mask_kernel_name() while it is being
# imported, so that the CPU is probed in one thread, never by two at once.

cdef extern from "mask_kernels.h":
    void aws_mask(const unsigned char *src, unsigned char *dst, size_t n,
                  const unsigned char *key, unsigned int offset) nogil
    const char *aws_mask_kernel_name()

cdef enum:
    # Below this size releasing the GIL costs more than the XOR itself.
    NOGIL_THRESHOLD = 65536


cdef inline void mask_into(const unsigned char *src, unsigned char *dst, size_t n,
                           const unsigned char *key, unsigned int offset) noexcept:
    """XOR ``n`` bytes of ``src`` into ``dst`` (which may be ``src``), key phase ``offset``.

    Large payloads are masked without the GIL.  The caller holds
    references to both buffers, so they stay alive meanwhile.
    """
    if n >= NOGIL_THRESHOLD:
        with nogil:
            aws_mask(src, dst, n, key, offset)
    else:
        aws_mask(src, dst, n, key, offset)
