"""UTF-8 validation, pure-Python twin of ``csrc/_utf8.pyx``.

Text messages may be split across frames at any byte, so validation has to
carry state from one fragment to the next; and RFC 6455 section 8.1 asks us
to fail as soon as the bytes cannot be UTF-8, not at the end of the message.
CPython's incremental decoder already does both.
"""

from __future__ import annotations

import codecs

Buffer = bytes | bytearray | memoryview

_Decoder = codecs.getincrementaldecoder("utf-8")


def is_utf8(data: Buffer) -> bool:
    """Whether ``data`` is complete, valid UTF-8."""
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Utf8Validator:
    """Validates a byte stream fed in pieces, failing on the first bad byte."""

    __slots__ = ("_decoder", "_valid")

    def __init__(self) -> None:
        self._decoder = _Decoder()
        self._valid = True

    def feed(self, data: Buffer, final: bool = False) -> bool:
        """Take the next piece; False once the stream cannot be valid UTF-8.

        With ``final`` the stream ends here, so an incomplete code point at
        its end is invalid too.
        """
        if self._valid:
            try:
                self._decoder.decode(data, final)
            except UnicodeDecodeError:
                self._valid = False
            else:
                # CPython holds back ED A0..BF (a UTF-16 surrogate) until the
                # third byte; no third byte can make it valid, so fail now.
                pending = self._decoder.getstate()[0]
                if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                    self._valid = False
        return self._valid

    def reset(self) -> None:
        """Start a new stream."""
        self._decoder.reset()
        self._valid = True
