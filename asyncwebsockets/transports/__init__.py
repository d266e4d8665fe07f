"""The byte-moving layer under a :class:`~asyncwebsockets.websocket.Websocket`, one module per backend.

- :mod:`.base`: the interface every transport offers;
- :mod:`.asyncio_native`: asyncio's protocol callbacks (sockets we open or
  accept on asyncio, and anyio TCP streams on asyncio, taken over: how
  each comes to it is in :mod:`.asyncio_open`);
- :mod:`.trio_socket`: plain TCP sockets on trio, driven directly;
- :mod:`.stream`: any other anyio (or trio) byte stream.

:func:`as_transport` picks the fastest one that fits what a caller handed us.
"""

from __future__ import annotations

from typing import Any

from . import asyncio_open, trio_socket
from .base import RECEIVE_SIZE, TRANSPORT_ERRORS, Sink, Transport
from .stream import StreamTransport, TrioStreamAdapter

__all__ = ["Transport", "Sink", "TRANSPORT_ERRORS", "RECEIVE_SIZE", "as_transport", "StreamTransport"]


def as_transport(stream: Any) -> Transport:
    """Wrap what a caller handed us: an anyio stream, a trio stream, or a transport."""
    if hasattr(stream, "send_is_atomic"):
        return stream  # type: ignore[no-any-return]
    adopted = asyncio_open.adopt(stream)
    if adopted is not None:
        return adopted
    if not hasattr(stream, "receive") and hasattr(stream, "receive_some"):
        return StreamTransport(TrioStreamAdapter(stream))
    if trio_socket.usable_for(stream):
        return trio_socket.TrioSocketTransport(stream)
    return StreamTransport(stream)
