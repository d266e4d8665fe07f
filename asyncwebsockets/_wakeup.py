"""Waking the tasks that wait on a connection, as cheaply as each backend allows.

A connection wakes its application when messages arrive, a pong answers
a ping or the connection ends.  ``anyio.Event`` would do, but it is made
afresh for every wait and costs several microseconds on asyncio, which
matters when the wait happens once per message.  These primitives are a
list of asyncio futures, or a trio parking lot: waiting costs one future
(or one reschedule), waking with nobody waiting costs a truth test, and
they may be woken from asyncio's protocol callbacks, where no task runs.

A wake-up is not remembered: waiters check their condition first and
wait only if it does not hold yet, with no await in between.
"""

from __future__ import annotations

import asyncio
import sys
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
    async def wait(self) -> None:
        """Sleep until the next :meth:`set`; cancellable."""

    def set(self) -> None:
        """Wake every task in :meth:`wait` now."""


class AsyncioWakeup:
    __slots__ = ("_loop", "_futures")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._futures: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        future = self._loop.create_future()
        self._futures.append(future)
        try:
            await future
        finally:
            if not future.done():  # cancelled: not woken, so still listed
                self._futures.remove(future)

    def set(self) -> None:
        futures = self._futures
        if futures:
            self._futures = []
            for future in futures:
                if not future.done():
                    future.set_result(None)


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
