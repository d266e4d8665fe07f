"""Payload masking (RFC 6455 section 5.3), pure-Python twin of ``csrc/_mask.pyx``.

XOR with the repeated 4-byte key is done on one big integer: CPython's
arbitrary-precision XOR runs in C over machine words, which is far faster
than a byte loop in Python.
"""

from __future__ import annotations

from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


def apply_mask(data: Buffer, mask: bytes, offset: int = 0) -> bytes:
    """Return ``data`` XOR-ed with ``mask`` repeated, starting at key byte ``offset``.

    ``offset`` lets a payload that arrives in pieces be unmasked piece by
    piece: it is the payload position of ``data[0]``, taken modulo 4.
    """
    if len(mask) != 4:
        raise ValueError("mask must be 4 bytes")
    size = len(data)
    if size == 0:
        return b""
    offset &= 3
    if offset:
        mask = mask[offset:] + mask[:offset]
    key = (mask * ((size >> 2) + 1))[:size]
    value = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def apply_mask_inplace(buffer: Union[bytearray, memoryview], mask: bytes, offset: int = 0) -> None:
    """XOR a writable buffer with ``mask`` in place; see :func:`apply_mask`."""
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError("apply_mask_inplace needs a writable buffer")
    view = view.cast("B")
    view[:] = apply_mask(view, mask, offset)
