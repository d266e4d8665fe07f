"""Waking the tasks that wait on a connection, as cheaply as each backend allows.

A connection wakes its application when messages arrive, a pong answers
a ping or the connection ends.  ``anyio.Event`` would do, but it is made
afresh for every wait and costs several microseconds on asyncio, which
matters when the wait happens once per message.  These primitives are a
list of future-like waiters on asyncio, or of sleeping tasks on trio:
waiting costs one waiter (or one reschedule), waking with nobody waiting
costs a truth test, and they may be woken from asyncio's protocol
callbacks, where no task runs.  A task woken by a read callback wrapped
in :func:`reading` is stepped in the same round of the event loop.

A wake-up is not remembered: waiters check their condition first and
wait only if it does not hold yet, with no await in between.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

__all__ = ["Wakeup", "new_wakeup", "on_trio", "spawn_detached"]


def on_trio() -> bool:
    """Whether the calling task runs on trio (else asyncio, uvloop included)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


class Wakeup(Protocol):
    def wait(self) -> Awaitable[None]:
        """Sleep until the next :meth:`set`; cancellable."""

    def set(self) -> None:
        """Wake every task in :meth:`wait` now."""


class _Waiter:
    """What a task waiting on its connection awaits on asyncio: a future, as far as asyncio is concerned.

    A task awaiting an asyncio future is woken in the loop's next round:
    the future schedules the task's step with ``call_soon``, and the loop
    polls its selector once more before running it.  When the wake-up
    comes from a read callback (a message arrived), that extra round costs
    more than handling the message.  This object speaks asyncio's protocol
    for future-like objects (``_asyncio_future_blocking``,
    ``add_done_callback``, ``result``, ``cancel``; see
    :func:`asyncio.isfuture`), so that :func:`reading` can step the task
    right after the read callback's own work, in the same round.  Woken
    anywhere else, or cancelled, it schedules its callbacks like a future.
    """

    __slots__ = ("_owner", "_state", "_callbacks", "_message", "_asyncio_future_blocking")

    def __init__(self, owner: AsyncioWakeup) -> None:
        self._owner = owner
        self._state = _PENDING
        # (callback, context) pairs; a task adds exactly one.
        self._callbacks: list[tuple[Callable[[Any], object], contextvars.Context]] = []
        self._asyncio_future_blocking = False

    def __await__(self) -> Generator[Any, None, None]:
        if self._state is _PENDING:
            self._asyncio_future_blocking = True
            yield self
        if self._state is _CANCELLED:
            raise asyncio.CancelledError(self._message)

    __iter__ = __await__

    def __repr__(self) -> str:
        return f"<connection wake-up {self._state}>"

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._owner._loop

    def done(self) -> bool:
        return self._state is not _PENDING

    def cancelled(self) -> bool:
        return self._state is _CANCELLED

    def result(self) -> None:
        if self._state is not _DONE:
            if self._state is _CANCELLED:
                raise asyncio.CancelledError(self._message)
            raise asyncio.InvalidStateError("not woken yet")

    def exception(self) -> BaseException | None:
        self.result()
        return None

    def add_done_callback(self, fn: Callable[[Any], object], *, context: contextvars.Context | None = None) -> None:
        if context is None:
            context = contextvars.copy_context()
        if self._state is _PENDING:
            self._callbacks.append((fn, context))
        else:
            self._owner._loop.call_soon(fn, self, context=context)

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        kept = [(f, c) for f, c in self._callbacks if f != fn]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def cancel(self, msg: Any = None) -> bool:
        if self._state is not _PENDING:
            return False
        self._state = _CANCELLED
        self._message = msg
        waiters = self._owner._waiters
        if self in waiters:
            waiters.remove(self)
        self._schedule()
        return True

    def _wake(self) -> None:
        self._state = _DONE
        woken = _round.woken
        if woken is not None:
            woken.append(self)
        else:
            self._schedule()

    def _schedule(self) -> None:
        """Run the callbacks in a later round, as a future would."""
        callbacks = self._callbacks
        if callbacks:
            self._callbacks = []
            call_soon = self._owner._loop.call_soon
            for fn, context in callbacks:
                call_soon(fn, self, context=context)

    def _run(self) -> None:
        """Run the callbacks now (stepping the waiting task), each in its context."""
        callbacks = self._callbacks
        if callbacks:
            self._callbacks = []
            for fn, context in callbacks:
                context.run(fn, self)


_PENDING = "pending"
_DONE = "woken"
_CANCELLED = "cancelled"


class _Round(threading.local):
    #: While :func:`reading` runs its callback: the waiters woken meanwhile.
    woken: list[_Waiter] | None = None


_round = _Round()


def reading(loop: asyncio.AbstractEventLoop, work: Callable[..., None], *args: Any) -> None:
    """Do a read callback's ``work(*args)``, then step the tasks it woke, in this round.

    For asyncio's protocol and ``call_soon`` callbacks, where no task
    runs: each woken task is stepped from here exactly as the loop would
    step it, only without the extra round.  Wake-ups from the stepped
    tasks themselves are scheduled as usual.
    """
    if _round.woken is not None:
        # Inside another reading(): its caller steps what this wakes.
        work(*args)
        return
    woken: list[_Waiter] = []
    _round.woken = woken
    try:
        work(*args)
    except BaseException:
        _round.woken = None
        for waiter in woken:
            waiter._schedule()
        raise
    _round.woken = None
    if woken:
        _step(loop, woken)


def _step(loop: asyncio.AbstractEventLoop, woken: list[_Waiter]) -> None:
    if asyncio.current_task(loop) is not None:
        # Called inside a task after all: leave them to the loop.
        for waiter in woken:
            waiter._schedule()
        return
    for i, waiter in enumerate(woken):
        try:
            waiter._run()
        except BaseException:
            # KeyboardInterrupt or SystemExit out of a task's step: the
            # others are still woken, in the loop's next round.
            for rest in woken[i + 1 :]:
                rest._schedule()
            raise


class AsyncioWakeup:
    __slots__ = ("_loop", "_waiters")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiters: list[_Waiter] = []

    def wait(self) -> _Waiter:
        waiter = _Waiter(self)
        self._waiters.append(waiter)
        return waiter

    def set(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if waiter._state is _PENDING:
                    waiter._wake()


class TrioWakeup:
    """The sleeping tasks themselves, rescheduled by :meth:`set`.

    Lighter than trio's ParkingLot, which keeps an ordered dict for each
    of many idle connections.
    """

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[Any] = []

    async def wait(self) -> None:
        from trio import lowlevel

        task = lowlevel.current_task()
        tasks = self._tasks
        tasks.append(task)

        def abort(_: Any) -> Any:
            # Not rescheduled yet, so still in the list that set() has not taken.
            self._tasks.remove(task)
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)

    def set(self) -> None:
        tasks = self._tasks
        if tasks:
            from trio.lowlevel import reschedule

            self._tasks = []
            for task in tasks:
                reschedule(task)


def new_wakeup() -> Wakeup:
    """A wake-up for the running backend (asyncio, uvloop or trio)."""
    if on_trio():
        return TrioWakeup()
    return AsyncioWakeup()


def spawn_detached(async_fn: Any, *args: Any) -> None:
    """Run ``async_fn(*args)`` in a task of its own, outside any task group.

    For connections made where no task group is at hand
    (``create_websocket`` and friends): their reader must go on after the
    call returns.  ``async_fn`` must catch its own errors; it ends when its
    connection does.  On trio it is a system task, on asyncio a plain task
    kept referenced until it ends.
    """
    if on_trio():
        import trio

        trio.lowlevel.spawn_system_task(async_fn, *args)
        return
    task = asyncio.get_running_loop().create_task(async_fn(*args))
    _detached.add(task)
    task.add_done_callback(_detached.discard)


_detached: set[asyncio.Task[Any]] = set()
