"""A client that connects again when its connection is lost: ``async for ws in connect(url)``.

Nearly every long-lived client needs this, and the hand-written loop is
usually wrong in one of three ways: it retries at once and forever
(hammering a server that is restarting, in step with every other client),
it retries what will never work (a 403, a bad URL, a certificate that does
not verify) instead of telling anyone, or it leaks the connection it
moved on from.  Here the waits grow exponentially up to a cap, with random
jitter so that clients dropped together do not come back together, unless
the server said how long to wait (``Retry-After``); only failures that
another attempt may cure are retried; and each connection is closed when
the loop moves on.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from types import TracebackType
from typing import Any

import anyio

from .client import create_websocket
from .exceptions import HandshakeError, HandshakeRejected, HandshakeTimeout, ProxyError, RedirectError
from .websocket import Websocket

__all__ = ["connect", "Connect", "retryable", "backoff", "retry_after"]

logger = logging.getLogger("asyncwebsockets.client")

#: HTTP statuses worth another try: the server is overloaded, restarting,
#: or behind a gateway that lost it for a while.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def retryable(exc: BaseException) -> bool:
    """Whether connecting again may succeed where ``exc`` failed.

    Yes for lost or refused connections, timeouts and the statuses a
    busy or restarting server (or its gateway) answers with; no for a
    refusal that will be repeated (other 4xx, a redirect not followed, a
    proxy's 407), a URL or argument that is wrong, and a certificate that
    does not verify, which retrying would only hide.
    """
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, RedirectError):
        return False
    if isinstance(exc, HandshakeRejected):
        return exc.status_code in RETRYABLE_STATUSES
    if isinstance(exc, ProxyError):
        return exc.status_code is None or exc.status_code in RETRYABLE_STATUSES
    if isinstance(exc, (HandshakeError, HandshakeTimeout)):
        return True
    # Lost or refused connections (ConnectionError and the other OSErrors),
    # and timeouts; ValueError (InvalidURI), TypeError, ImportError are not.
    return isinstance(exc, (OSError, TimeoutError, anyio.BrokenResourceError, anyio.EndOfStream))


#: Statuses whose ``Retry-After`` says when to come back (RFC 9110 section
#: 10.2.3, and RFC 6585 section 4 for 429).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after(exc: BaseException) -> float | None:
    """Seconds a server that refused the handshake asked us to wait, or None.

    From the ``Retry-After`` header of a 503 or 429 answer: a number of
    seconds, or an HTTP date (a date in the past means now).  A server
    that knows when it will be back is a better guide than our backoff,
    and retrying before then would only earn another refusal.  A value
    that is neither is ignored.
    """
    if not isinstance(exc, HandshakeRejected) or exc.status_code not in RETRY_AFTER_STATUSES:
        return None
    for name, value in exc.headers:
        if name.lower() != b"retry-after":
            continue
        text = value.decode("latin-1").strip()
        if text.isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None  # not an HTTP date: those are in GMT
        return max(0.0, when.timestamp() - time.time())
    return None


def backoff(initial: float, factor: float, maximum: float) -> Iterator[float]:
    """Delays before successive attempts: exponential, capped, each a random part of its step.

    Attempt ``n`` waits between half and all of ``min(maximum, initial *
    factor ** n)``: growing so that a long outage costs the server little,
    random so that clients that lost the server together spread out.
    """
    step = initial
    while True:
        yield random.uniform(step / 2, step)
        step = min(maximum, step * factor)


class Connect:
    """What :func:`connect` returns: await it, enter it, or iterate over it.

    ``await connect(url)`` and ``async with connect(url) as ws`` make one
    connection, as :func:`~asyncwebsockets.client.create_websocket` and
    :func:`~asyncwebsockets.client.open_websocket` do (one attempt, no
    retries).  ``async for ws in connect(url)`` yields a new connection
    each time round, closing the previous one, and waits out failures.
    """

    def __init__(
        self,
        url: str,
        *,
        backoff_initial: float = 1.0,
        backoff_factor: float = 1.618,
        backoff_max: float = 90.0,
        process_exception: Callable[[Exception], Exception | None] | None = None,
        **kwargs: Any,
    ) -> None:
        for name, value in (("backoff_initial", backoff_initial), ("backoff_max", backoff_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} is a number of seconds > 0, not {value!r}")
        if isinstance(backoff_factor, bool) or not isinstance(backoff_factor, (int, float)) or backoff_factor < 1:
            raise ValueError(f"backoff_factor is a number >= 1, not {backoff_factor!r}")
        self.url = url
        self.kwargs = kwargs
        self.backoff_initial = float(backoff_initial)
        self.backoff_factor = float(backoff_factor)
        self.backoff_max = float(max(backoff_max, backoff_initial))
        self.process_exception = process_exception or _default_process_exception
        self._ws: Websocket | None = None

    def __await__(self) -> Generator[Any, None, Websocket]:
        return create_websocket(self.url, **self.kwargs).__await__()

    async def __aenter__(self) -> Websocket:
        self._ws = await create_websocket(self.url, **self.kwargs)
        return self._ws

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with anyio.CancelScope(shield=True):
                await ws.close()

    def __aiter__(self) -> AsyncIterator[Websocket]:
        return self._reconnecting()

    async def _reconnecting(self) -> AsyncIterator[Websocket]:
        # A generator, so that a loop left by break or an exception still
        # gets its last connection closed when the generator is finalized.
        delays: Iterator[float] | None = None
        while True:
            try:
                ws = await create_websocket(self.url, **self.kwargs)
            except Exception as exc:
                fatal = self._fatal(exc)
                if fatal is exc:
                    raise
                if fatal is not None:
                    raise fatal from exc
                if delays is None:
                    delays = backoff(self.backoff_initial, self.backoff_factor, self.backoff_max)
                delay = next(delays)
                asked = retry_after(exc)
                if asked is not None:
                    # As the server asked, within our longest wait.
                    delay = min(asked, self.backoff_max)
                logger.warning("cannot connect to %s (%s); trying again in %.1f s", _safe(self.url), _brief(exc), delay)
                await anyio.sleep(delay)
                continue
            opened = anyio.current_time()
            try:
                yield ws
            finally:
                with anyio.CancelScope(shield=True):
                    await ws.close()
            # A connection that lasted resets the waits; one dropped as
            # soon as it opened does not, or a server that accepts and
            # hangs up at once would have us reconnect in a tight loop.
            if anyio.current_time() - opened >= self.backoff_initial:
                delays = None
                logger.info("connection to %s ended; reconnecting", _safe(self.url))
            else:
                if delays is None:
                    delays = backoff(self.backoff_initial, self.backoff_factor, self.backoff_max)
                delay = next(delays)
                logger.warning("connection to %s ended at once; reconnecting in %.1f s", _safe(self.url), delay)
                await anyio.sleep(delay)

    def _fatal(self, exc: Exception) -> Exception | None:
        """The exception to stop with (``exc`` itself, or another), or None to try again."""
        try:
            return self.process_exception(exc)
        except Exception as raised:  # noqa: BLE001 - the callback's own error ends the loop
            return raised


def connect(
    url: str,
    *,
    backoff_initial: float = 1.0,
    backoff_factor: float = 1.618,
    backoff_max: float = 90.0,
    process_exception: Callable[[Exception], Exception | None] | None = None,
    **kwargs: Any,
) -> Connect:
    """Connect to ``url``, and again whenever the connection is lost: ``async for ws in connect(url)``.

    Each time round the loop gets a new open connection; the previous one
    is closed first.  Failures that another attempt may cure (see
    :func:`retryable`) are retried after ``backoff_initial`` seconds,
    growing by ``backoff_factor`` per failure up to ``backoff_max``, each
    wait a random part (half to all) of that; a connection that stays open
    resets the waits.  A server that refuses with 503 or 429 and a
    ``Retry-After`` header (seconds or an HTTP date) is retried when it
    asked instead, though never later than ``backoff_max`` seconds.
    Other failures end the loop by raising.
    ``process_exception(exc)`` may decide instead: it returns None to
    retry, or the exception to raise.  The other keyword arguments are
    those of :func:`~asyncwebsockets.client.create_websocket`.

    ``await connect(url)`` and ``async with connect(url) as ws`` connect
    once, without retrying.
    """
    return Connect(
        url,
        backoff_initial=backoff_initial,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        process_exception=process_exception,
        **kwargs,
    )


def _default_process_exception(exc: Exception) -> Exception | None:
    return None if retryable(exc) else exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _safe(url: str) -> str:
    """``url`` for a log line, without the password it may carry."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return scheme + sep + netloc.rpartition("@")[2] + slash + path
