"""What several test modules share: a websockets peer on its own event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Awaitable, Callable, List

import anyio
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import serve as their_serve

#: Upper bound for one call into the peer's thread.
PEER_TIMEOUT = 15.0


# -- the peer's event loop ----------------------------------------------------------


class Peer:
    """An asyncio event loop in a daemon thread, where the websockets library runs.

    :meth:`call` runs a coroutine function there and waits for its result
    without blocking our event loop; :meth:`server` starts a websockets
    server there.  What their handlers observe goes through :meth:`put`
    (thread-safe) and comes out of :meth:`get`.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.observed: "queue.Queue[Any]" = queue.Queue()
        self._servers: List[Any] = []
        self._thread = threading.Thread(target=self._main, name="websockets-peer", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(self.loop)
            for task in leftovers:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def call(self, function: Callable[..., Awaitable[Any]], *args: Any, timeout: float = PEER_TIMEOUT) -> Any:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(function(*args), timeout), self.loop)
        try:
            return await anyio.to_thread.run_sync(future.result, timeout + 5, abandon_on_cancel=True)
        finally:
            future.cancel()

    async def server(self, handler: Callable[[Any], Awaitable[None]], **options: Any) -> int:
        """Start a websockets server on 127.0.0.1 running ``handler``; returns its port."""

        async def guarded(ws: Any) -> None:
            try:
                await handler(ws)
            except BaseException as exc:  # surfaces in get(), not only in their log
                self.put(exc)
                raise

        async def start() -> int:
            server = await their_serve(guarded, "127.0.0.1", 0, **options)
            self._servers.append(server)
            return int(list(server.sockets)[0].getsockname()[1])

        port: int = await self.call(start)
        return port

    def put(self, item: Any) -> None:
        self.observed.put(item)

    async def get(self, timeout: float = PEER_TIMEOUT) -> Any:
        item = await anyio.to_thread.run_sync(self.observed.get, True, timeout, abandon_on_cancel=True)
        if isinstance(item, BaseException):
            raise AssertionError(f"their handler failed: {item!r}") from item
        return item

    def stop(self) -> None:
        async def close_servers() -> None:
            for server in self._servers:
                server.close()
                await server.wait_closed()

        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(asyncio.wait_for(close_servers(), 5), self.loop).result(10)
            except Exception:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the websockets peer thread did not stop"


def connect(url: str, **options: Any) -> Any:
    """Their client; never through a proxy from the environment."""
    options.setdefault("proxy", None)
    options.setdefault("open_timeout", 10)
    options.setdefault("close_timeout", 5)
    return their_connect(url, **options)


