"""The options every connection takes, defined once.

Each function that makes a connection (``create_websocket``,
``open_websocket_server``, ``serve``...) takes these as keyword arguments,
typed by :class:`ConnectionOptions` so editors and type checkers know them,
and turns them into a :class:`Settings` with :func:`settings_from`, which
fills in the defaults and refuses unknown names and wrong types at once,
before any I/O.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypedDict

from .permessage_deflate import Compression, PerMessageDeflate, check_compression

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

__all__ = ["ConnectionOptions", "Settings", "settings_from", "Unpack", "Limits"]

#: A high-water mark, or ``(high, low)``: where flow control stops and resumes.
Limits = int | tuple[int, int | None]


class ConnectionOptions(TypedDict, total=False):
    """Keyword arguments shared by every function that opens or accepts a connection.

    ``open_timeout``
        Seconds for connecting and the opening handshake together (default
        10; None waits for ever).
    ``close_timeout``
        Seconds for the closing handshake, and for the peer to close TCP
        after it (default 10).
    ``ping_interval``, ``ping_timeout``
        A keepalive ping goes out every ``ping_interval`` seconds (default
        20); if nothing at all arrives from the peer within
        ``ping_timeout`` seconds after it (default 20), the connection is
        failed with 1011.  None turns either off.
    ``max_message_size``
        Bytes one incoming message may have (default 1 MiB); a larger one
        closes the connection with 1009.  None for no limit.
    ``max_queue``
        Received messages kept for the application before the connection
        stops reading from the network (default 16), so that TCP makes the
        peer wait.  Reading resumes once the application has taken all but
        a quarter of them; ``(high, low)`` sets both marks; None never stops.
    ``write_limit``
        Bytes of outgoing data buffered before ``send`` waits for the peer
        to read (default 256 KiB); ``(high, low)`` sets where it resumes.
    ``reassemble``
        False hands data over frame by frame instead of as whole messages.
    ``compression``
        ``"deflate"`` (or a :class:`~asyncwebsockets.PerMessageDeflate`) to
        use permessage-deflate; None (default) for none.
    """

    open_timeout: float | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_message_size: int | None
    max_queue: Limits | None
    write_limit: Limits
    reassemble: bool
    compression: Compression


@dataclass(frozen=True)
class Settings:
    """:class:`ConnectionOptions` with every default filled in and every value checked."""

    open_timeout: float | None = 10.0
    close_timeout: float | None = 10.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    max_message_size: int | None = 1 << 20
    max_queue: Limits | None = 16
    write_limit: Limits = 256 * 1024
    reassemble: bool = True
    compression: PerMessageDeflate | None = None

    @property
    def queue_marks(self) -> tuple[float, float]:
        """Where reading stops and resumes, in queued messages (infinite: never)."""
        if self.max_queue is None:
            return float("inf"), float("inf")
        return _marks(self.max_queue)

    @property
    def write_marks(self) -> tuple[int, int]:
        high, low = _marks(self.write_limit)
        return int(high), int(low)


def _marks(limits: Limits) -> tuple[float, float]:
    if isinstance(limits, tuple):
        high, low = limits
        return high, high // 4 if low is None else low
    return limits, limits // 4


_TIMEOUTS = ("open_timeout", "close_timeout", "ping_interval", "ping_timeout")

#: What other WebSocket libraries (websockets, aiohttp, trio-websocket) call
#: some of our options: code brought over from them is told the name to use.
OTHER_NAMES: Mapping[str, str] = {
    "max_size": "max_message_size",
    "max_msg_size": "max_message_size",
    "message_queue_size": "max_queue",
    "heartbeat": "ping_interval",
    "connect_timeout": "open_timeout",
    "disconnect_timeout": "close_timeout",
}


def settings_from(options: Mapping[str, Any], caller: str, other_names: Mapping[str, str] = OTHER_NAMES) -> Settings:
    """Check ``options`` (as given to ``caller``) and fill in the defaults.

    An unknown name is refused; one that ``other_names`` knows from other
    libraries is refused with the name it has here.
    """
    known = {f.name for f in fields(Settings)}
    for name in options:
        if name not in known:
            ours = other_names.get(name)
            hint = "" if ours is None else f" (here it is called {ours})"
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}{hint}")
    for name in _TIMEOUTS:
        value = options.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} is a number of seconds or None, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} may not be negative")
    size = options.get("max_message_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise TypeError(f"max_message_size is a number of bytes (int >= 0) or None, not {size!r}")
    if options.get("max_queue") is not None:
        _check_limits("max_queue", options["max_queue"])
    if "write_limit" in options:
        _check_limits("write_limit", options["write_limit"])
    values = dict(options)
    if "compression" in values:
        values["compression"] = check_compression(values["compression"])
    if "reassemble" in values:
        values["reassemble"] = bool(values["reassemble"])
    return Settings(**values)


def _check_limits(name: str, value: Any) -> None:
    high, low = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
    for mark in (high, low):
        if mark is not None and (isinstance(mark, bool) or not isinstance(mark, int)):
            raise TypeError(f"{name} is an int or an (int, int) pair, not {value!r}")
    if high < 1 or (low is not None and not 0 <= low <= high):
        raise ValueError(f"{name} needs high >= 1 and 0 <= low <= high, not {value!r}")
