"""The wake-ups that connections use to wake their application's tasks."""

from __future__ import annotations

import asyncio
import contextvars

import anyio
import pytest

from asyncwebsockets._wakeup import AsyncioWakeup, Wakeup, new_wakeup, reading

pytestmark = pytest.mark.anyio

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def waiting(wakeup: Wakeup) -> None:
    await wakeup.wait()


async def parked(wakeup: AsyncioWakeup, progress: list[str] | None = None) -> asyncio.Task[None]:
    """A task waiting on ``wakeup``, already parked; once woken it appends "woken" to ``progress``."""

    async def waiter() -> None:
        await wakeup.wait()
        if progress is not None:
            progress.append("woken")

    task = asyncio.get_running_loop().create_task(waiter())
    await asyncio.sleep(0)
    return task


# -- on every backend ------------------------------------------------------------------


async def test_set_wakes_every_waiter(anyio_backend: str) -> None:
    wakeup = new_wakeup()
    woken: list[int] = []

    async def wait(i: int) -> None:
        await wakeup.wait()
        woken.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(wait, i)
        await anyio.wait_all_tasks_blocked()
        wakeup.set()
    assert sorted(woken) == [0, 1, 2]


async def test_a_set_with_nobody_waiting_is_not_remembered(anyio_backend: str) -> None:
    wakeup = new_wakeup()
    wakeup.set()
    with anyio.move_on_after(0.05) as scope:
        await wakeup.wait()
    assert scope.cancelled_caught


async def test_cancelled_waits_leave_nothing_behind(anyio_backend: str) -> None:
    """A receive with a timeout, looped on an idle connection, must not pile up waiters."""
    wakeup = new_wakeup()
    for _ in range(200):
        with anyio.move_on_after(0):
            await wakeup.wait()
    left = wakeup._waiters if isinstance(wakeup, AsyncioWakeup) else wakeup._tasks  # type: ignore[attr-defined]
    assert left == []
    # And it still works afterwards.
    async with anyio.create_task_group() as tg:
        tg.start_soon(waiting, wakeup)
        await anyio.wait_all_tasks_blocked()
        wakeup.set()


# -- asyncio: stepped in the read callback's round ---------------------------------------


def run(main: object) -> None:
    asyncio.run(main)  # type: ignore[arg-type]


def test_a_task_woken_inside_reading_runs_before_the_callback_returns() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        progress: list[str] = []
        task = await parked(wakeup, progress)
        seen: list[list[str]] = []

        def read_callback() -> None:
            reading(loop, wakeup.set)
            seen.append(list(progress))

        loop.call_soon(read_callback)
        await task
        assert seen == [["woken"]]

    run(main())


def test_a_task_woken_elsewhere_runs_in_a_later_round() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        progress: list[str] = []
        task = await parked(wakeup, progress)
        seen: list[list[str]] = []

        def callback() -> None:
            wakeup.set()
            seen.append(list(progress))

        loop.call_soon(callback)
        await task
        assert seen == [[]]
        assert progress == ["woken"]

    run(main())


def test_a_stepped_task_runs_in_its_own_context() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        seen: list[str] = []

        async def waiter() -> None:
            VAR.set("the task's")
            await wakeup.wait()
            seen.append(VAR.get())
            VAR.set("changed by the task")

        task = loop.create_task(waiter())
        await asyncio.sleep(0)

        def read_callback() -> None:
            reading(loop, wakeup.set)
            seen.append(VAR.get())

        loop.call_soon(read_callback, context=contextvars.Context())
        await task
        assert seen == ["the task's", "unset"]

    run(main())


def test_tasks_woken_by_a_stepped_task_wait_for_the_next_round() -> None:
    """Only the read callback's own wake-ups are stepped: no task runs inside another."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        first, second = AsyncioWakeup(), AsyncioWakeup()
        order: list[str] = []

        async def a() -> None:
            await first.wait()
            order.append("a")
            second.set()
            order.append("a set second")

        async def b() -> None:
            await second.wait()
            order.append("b")

        tasks = [loop.create_task(a()), loop.create_task(b())]
        await asyncio.sleep(0)

        def read_callback() -> None:
            reading(loop, first.set)
            order.append("callback done")

        loop.call_soon(read_callback)
        await asyncio.gather(*tasks)
        assert order == ["a", "a set second", "callback done", "b"]

    run(main())


def test_work_that_fails_still_wakes_its_tasks() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        task = await parked(wakeup)

        def failing() -> None:
            wakeup.set()
            raise ValueError("parser broke")

        with pytest.raises(ValueError, match="parser broke"):
            reading(loop, failing)
        assert not task.done()
        await asyncio.wait_for(task, 1)

    run(main())


def test_reading_inside_a_task_leaves_stepping_to_the_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        progress: list[str] = []
        task = await parked(wakeup, progress)
        reading(loop, wakeup.set)  # in the main task: no RuntimeError
        assert progress == []
        await task
        assert progress == ["woken"]

    run(main())


def test_cancelling_a_waiting_task_carries_the_message() -> None:
    async def main() -> None:
        wakeup = AsyncioWakeup()
        seen: list[BaseException] = []

        async def waiter() -> None:
            try:
                await wakeup.wait()
            except asyncio.CancelledError as exc:
                seen.append(exc)
                raise

        task = asyncio.get_running_loop().create_task(waiter())
        await asyncio.sleep(0)
        task.cancel("shutting down")
        # Where the task waits (before 3.11, awaiting the task loses the message).
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [exc.args for exc in seen] == [("shutting down",)]
        assert wakeup._waiters == []

    run(main())


def test_a_task_cancelled_and_woken_in_one_round_is_cancelled() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        wakeup = AsyncioWakeup()
        task = await parked(wakeup)

        def read_callback() -> None:
            task.cancel()
            reading(loop, wakeup.set)

        loop.call_soon(read_callback)
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())


def test_asyncio_timeouts_and_helpers_accept_a_wait() -> None:
    async def main() -> None:
        wakeup = AsyncioWakeup()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(wakeup.wait(), 0.01)
        assert wakeup._waiters == []
        both = asyncio.gather(wakeup.wait(), asyncio.shield(wakeup.wait()))
        await asyncio.sleep(0)
        wakeup.set()
        assert list(await asyncio.wait_for(both, 1)) == [None, None]

    run(main())
