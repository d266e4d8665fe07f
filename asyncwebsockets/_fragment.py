"""The event a frame reader makes of each frame of a message it was asked to stream.

A distinct type, not a ``TextMessage``/``BytesMessage`` with
``message_finished`` unset: whoever queues messages can then never mistake
part of a message for a whole one, and tells the two apart by the type
check it already makes for control frames, at no cost to whole messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsproto.events import Event

__all__ = ["Fragment"]


@dataclass(frozen=True)
class Fragment(Event):
    """Data of one frame (or what was buffered) of a message delivered piece by piece.

    ``data`` is ``str`` for a text message (a character split between two
    frames comes with the frame that completes it) and ``bytes`` for a
    binary one; ``message_finished`` is set on the message's last piece.
    """

    data: str | bytes
    message_finished: bool
