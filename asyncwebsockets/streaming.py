"""Receiving one message piece by piece: :meth:`Websocket.receive_streaming`.

Messages normally reach the application whole, from the receiver's
queue.  A :class:`MessageStream` takes the next message instead as the
fragments it arrives in:

* If a whole message is already queued, that one is next: it comes out as
  a single fragment.
* Otherwise the frame reader is told to deliver the message in progress,
  or the next one, frame by frame (``FrameReader.stream_message``); what
  of it was already buffered comes out first.  Its frames reach the
  receiver as ``Fragment`` events, which it hands to the stream
  (:attr:`Receiver.stream`) rather than to the queue, so no other
  receiving task ever sees part of a message.  The stream holds them in a
  queue of its own, bounded like the message queue: at ``max_queue``
  fragments reading stops until the application has taken all but the
  low-water mark.  After the message's last frame the reader reassembles
  again, and the messages after it go to the queue as usual.

A stream abandoned before its end (``aclose()``, the iterator dropped, or
its task receiving something else) drops the rest of its message as it
arrives, so the connection goes on with the next message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from ._fragment import Fragment
from .connection import Connection, ConnectionState

if TYPE_CHECKING:
    from .receiver import Receiver

__all__ = ["MessageStream"]

# What a stream is doing.
_NEW = 0  # nothing taken yet
_STREAMING = 1  # the reader delivers our message frame by frame
_FRAMES = 2  # reassemble=False: our message's frames come from the queue
_DONE = 3  # the message is over (or abandoned)


def _task_id() -> int:
    return anyio.get_current_task().id


class MessageStream(AsyncIterator[str | bytes]):
    """The fragments of one message, ``str`` for text and ``bytes`` for binary, as they arrive.

    Made by :meth:`~asyncwebsockets.websocket.Websocket.receive_streaming`;
    see there.  Fragments are what the peer's frames carried (a character
    split between two frames comes with the frame that completes it);
    empty ones are skipped, except that an empty message yields one empty
    fragment, so every message yields at least one and its type.
    """

    def __init__(self, receiver: Receiver, connection: Connection) -> None:
        self._receiver = receiver
        self._conn = connection
        self._state = _NEW
        self._fragments: deque[Fragment] = deque()
        self._owner: int | None = None
        # Whether any fragment went to the application.
        self._yielded = False
        # Whether the rest of the message was given up while closing.
        self._truncated = False

    @property
    def held(self) -> int:
        """Fragments received and not yet taken."""
        return len(self._fragments)

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> str | bytes:
        while True:
            state = self._state
            if state == _STREAMING:
                data = await self._next_fragment()
            elif state == _NEW:
                data = await self._begin()
            elif state == _FRAMES:
                data = await self._next_frame()
            else:
                raise StopAsyncIteration
            if data is not None:
                return data

    async def aclose(self) -> None:
        """Stop here: the rest of the message is dropped as it arrives."""
        self._abandon()

    def __del__(self) -> None:
        if self._state == _STREAMING:
            self._abandon()

    # -- the three ways a message comes ------------------------------------------------

    async def _begin(self) -> str | bytes | None:
        """Take a queued message whole, or claim the next one from the reader."""
        receiver = self._receiver
        conn = self._conn
        current = receiver.stream
        if current is not None and current is not self:
            if current._owner != _task_id():
                raise RuntimeError("another task is receiving a message with receive_streaming()")
            # Left unfinished by this very task, which has moved on.
            current._abandon()
        if not conn.reassembles:
            self._state = _FRAMES
            return None
        while True:
            event: Any = receiver.take()
            if event is None and not conn.receiving:
                # Closed, failed or failing: no message can come.
                if conn.failure_pending:
                    receiver.fail_pending()
                self._state = _DONE
                raise conn.closed_exception()
            if event is not None:
                self._state = _DONE
                self._yielded = True
                return event.data  # type: ignore[no-any-return]
            if conn.streaming_message:
                # The rest of an abandoned message is still arriving (and
                # being dropped): ours is the one after it.
                await receiver.wakeup.wait()
                continue
            first = conn.stream_message()
            self._state = _STREAMING
            self._owner = _task_id()
            receiver.stream = self
            if first is not None:
                self._fragments.append(first)  # type: ignore[arg-type]
            return None

    async def _next_fragment(self) -> str | bytes | None:
        fragments = self._fragments
        receiver = self._receiver
        conn = self._conn
        while not fragments:
            if conn.failure_pending:
                # Every fragment before the violation is taken: fail now.
                receiver.fail_pending()
                continue
            if self._truncated or not conn.receiving:
                # The message can no longer be finished, and how the
                # connection ended is known: no need to wait for the end
                # of the transport, as receive() does.
                self._finish()
                raise conn.closed_exception()
            try:
                reader = receiver._read_for_application
                if reader is None or receiver.queued or not await reader(receiver):
                    await receiver.wakeup.wait()
            except BaseException:
                # Cancelled: if nothing of the message has come, it is left
                # whole for whoever receives next; else it stays ours.
                if not self._yielded and not fragments and conn.cancel_stream():
                    receiver.stream = None
                    self._state = _NEW
                    self._owner = None
                raise
        fragment = fragments.popleft()
        receiver.resume_below(len(fragments))
        if fragment.message_finished:
            self._finish()
        return self._hand_out(fragment.data, fragment.message_finished)

    async def _next_frame(self) -> str | bytes | None:
        """Without reassembly, the frames of the message are queued like messages."""
        receiver = self._receiver
        event: Any = receiver.take()
        if event is None:
            try:
                event = await receiver.get()
            except StopAsyncIteration:
                self._state = _DONE
                raise self._conn.closed_exception() from None
        if event.message_finished:
            self._state = _DONE
        return self._hand_out(event.data, event.message_finished)

    def _hand_out(self, data: str | bytes, last: bool) -> str | bytes | None:
        if not data and (self._yielded or not last):
            return None
        self._yielded = True
        return data

    # -- for the receiver ------------------------------------------------------------

    def put(self, fragment: Fragment) -> None:
        """The next fragment of our message, as the reader delivered it."""
        fragments = self._fragments
        fragments.append(fragment)
        receiver = self._receiver
        if len(fragments) >= receiver._high:
            if self._conn.state is ConnectionState.OPEN:
                receiver.pause()
            elif receiver.discarding:
                # We are closing: keep reading for the peer's close frame, but
                # hold no more of a message that no one may ever finish
                # reading (RFC 6455 section 1.4 lets us discard it).
                self._truncated = True
                fragments.clear()
                receiver.stream = None

    def receiving_elsewhere(self) -> None:
        """Another receive waits for a message: if in our task, we were abandoned."""
        if self._owner == _task_id():
            self._abandon()

    # -- ending ------------------------------------------------------------------------

    def _finish(self) -> None:
        self._state = _DONE
        receiver = self._receiver
        if receiver.stream is self:
            receiver.stream = None

    def _abandon(self) -> None:
        """Drop the rest of the message; or, if nothing of it came, leave it to the next receive."""
        if self._state == _STREAMING:
            receiver = self._receiver
            if receiver.stream is self:
                receiver.stream = None
            if not self._yielded and not self._fragments:
                self._conn.cancel_stream()
            self._fragments.clear()
            receiver.resume_below(0)
        self._state = _DONE
