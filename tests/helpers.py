"""What several test modules share: frames and HTTP heads built by hand, raw
peers that drive a connection byte by byte, our servers in a task group, and
other libraries' peers on event loops of their own.

Frames are built here from RFC 6455's diagrams, never with the library's
own writer, so the reader is not only checked against itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import queue
import random
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import ByteStream, SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import serve as their_serve
from wsproto.events import BytesMessage, TextMessage

from asyncwebsockets import (
    Websocket,
    create_websocket_client,
    create_websocket_server,
    serve,
)

#: Set where a missing compiled codec is an error (CI, wheel builds), not a skip.
REQUIRE_COMPILED = os.environ.get("ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS", "") not in ("", "0")

#: For tests whose streams are the same whichever transport a socket would get.
two_backends = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)

#: Upper bound for any one test against another library; a hang fails instead of stalling the run.
TEST_TIMEOUT = 20.0
#: The message size limit both sides get in the interoperability tests.
LIMIT = 8 << 20

# What the interoperability tests send: big enough to span many reads and
# frames, with multi-byte characters everywhere so that both split them.
BIG = 4 << 20
BIG_BINARY = random.Random(6455).randbytes(BIG)
UNICODE = "ünïcødé ✓ 𝄞 中文 😀 \u2028 Ω"
#: Multi-byte characters everywhere, so that reads and frames split them.
LONG_TEXT = "é𝄞中a" * (BIG // 10)

PAYLOADS: list[Any] = ["hello", "", UNICODE, LONG_TEXT, b"", b"\x00\xff\x80\x7f", BIG_BINARY]


# -- frames and HTTP heads, by hand ------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10

# The masking key of the examples in RFC 6455 section 5.7.
KEY = bytes.fromhex("37fa213d")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: A frame as read back: ``(fin, opcode, unmasked payload)``.
Frame = tuple[bool, int, bytes]


def mask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key (RFC 6455 section 5.3), as one big-integer operation."""
    n = len(data)
    if not n:
        return b""
    keystream = (bytes(key) * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: bytes | None = KEY,
    length: int | None = None,
) -> bytes:
    """One frame as drawn in RFC 6455 section 5.2; ``key=None`` leaves it unmasked.

    ``length`` overrides the payload length written in the header.
    """
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if key is not None else 0
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if key is None:
        return header + payload
    return header + key + mask(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def take_frame(buf: bytearray, *, masked: bool | None) -> Frame | None:
    """Remove and return the first whole frame in ``buf``, unmasked; None if it is not all there.

    ``masked`` says whether the frame must be masked (None: either way).
    """
    if len(buf) < 2:
        return None
    length = buf[1] & 0x7F
    header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
    if masked is None:
        masked = bool(buf[1] & 0x80)
    assert bool(buf[1] & 0x80) == masked, "masking in the wrong direction"
    start = header + 4 * masked
    if len(buf) < start:
        return None
    if length >= 126:
        length = int.from_bytes(buf[2:header], "big")
    if len(buf) < start + length:
        return None
    payload = bytes(buf[start : start + length])
    if masked:
        payload = mask(payload, bytes(buf[header:start]))
    fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
    del buf[: start + length]
    return fin, opcode, payload


def accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept answering ``key`` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def head_of(response: bytes) -> tuple[str, dict[str, str]]:
    """The status or request line and the headers (lower-cased names) of an HTTP head."""
    head, sep, _ = response.partition(b"\r\n\r\n")
    assert sep
    first, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert name.lower() not in headers
        headers[name.lower()] = value.strip()
    return first, headers


def as_message(data: Any) -> Any:
    """The event our receive() gives for a message sent as ``data``."""
    return TextMessage(data) if isinstance(data, str) else BytesMessage(bytes(data))


# -- streams and raw peers ---------------------------------------------------------------

STREAM_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class MemoryByteStream(ByteStream):
    """One end of an in-memory byte pipe, made of two anyio memory object streams."""

    def __init__(self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]) -> None:
        self._send = send
        self._receive = receive
        self._pending = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._pending:
            self._pending = await self._receive.receive()
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        await self._send.send(bytes(item))

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def memory_pipe(buffer: float = 64) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected byte streams holding up to ``buffer`` unread writes each way."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](buffer)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](buffer)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


async def stream_pair(kind: str) -> tuple[ByteStream, ByteStream]:
    if kind == "memory":
        return memory_pipe()
    if kind == "tcp":
        # anyio TCP streams: on asyncio, ours takes over their transport.
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = await anyio.connect_tcp("127.0.0.1", listener.getsockname()[1])
            accepted, _ = listener.accept()
        return client, await anyio.abc.SocketStream.from_socket(accepted)
    a, b = socket.socketpair()
    return await anyio.abc.UNIXSocketStream.from_socket(a), await anyio.abc.UNIXSocketStream.from_socket(b)


class RawPeer:
    """The far end of a connection, driven by hand: HTTP heads and frames, no library code."""

    def __init__(self, stream: ByteStream, *, masks: bool, strict: bool = True) -> None:
        self.stream = stream
        self.masks = masks  # a client masks what it sends
        self.strict = strict  # insist that frames read are masked the other way
        self.buffer = bytearray()
        self.eof = False

    async def _more(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.stream.receive()
        except STREAM_ERRORS:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            if not await self._more():
                raise AssertionError(f"EOF inside an HTTP head: {bytes(self.buffer)!r}")
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end])
        del self.buffer[:end]
        return head

    async def accept(self, extra: bytes = b"") -> bytes:
        """Play the server: read the request, answer 101; returns the request head."""
        request = await self.read_head()
        key = head_of(request)[1]["sec-websocket-key"].encode()
        await self.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n" + extra + b"\r\n"
        )
        return request

    async def request(self, target: bytes = b"/", extra: bytes = b"") -> bytes:
        """Play the client: send an upgrade request; returns the response head."""
        key = base64.b64encode(os.urandom(16))
        await self.send(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + extra
        )
        response = await self.read_head()
        if response.startswith(b"HTTP/1.1 101 "):
            assert head_of(response)[1]["sec-websocket-accept"] == accept_key(key).decode()
        return response

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send_frame(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        await self.send(frame(opcode, payload, key=KEY if self.masks else None, **options))

    async def read_frame(self) -> Frame | None:
        """The next whole frame ``(fin, opcode, payload)``; None at EOF."""
        while True:
            got = take_frame(self.buffer, masked=not self.masks if self.strict else None)
            if got is not None:
                return got
            if not await self._more():
                return None

    async def read_close_code(self) -> int | None:
        """Read frames until the close frame; its code (1005 for none), or None at EOF."""
        while True:
            got = await self.read_frame()
            if got is None:
                return None
            if got[1] == 8:
                return int.from_bytes(got[2][:2], "big") if got[2] else 1005

    async def read_to_eof(self) -> list[Frame]:
        """Every frame until the other side closes the stream."""
        frames = []
        while True:
            got = await self.read_frame()
            if got is None:
                return frames
            frames.append(got)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self.stream.aclose()
            except STREAM_ERRORS:
                pass


@asynccontextmanager
async def ws_pair(
    kind: str = "memory", client: dict[str, Any] | None = None, server: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Websocket, Websocket]]:
    """A client and a server Websocket connected to each other."""
    a, b = await stream_pair(kind)
    accepted: list[Websocket] = []

    async def accept() -> None:
        accepted.append(await create_websocket_server(b, **(server or {})))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(accept)
            client_ws = await create_websocket_client(a, "localhost", "/", **(client or {}))
    try:
        yield client_ws, accepted[0]
    finally:
        with anyio.CancelScope(shield=True):
            await client_ws.abort()
            await accepted[0].abort()


@asynccontextmanager
async def ws_and_raw(
    kind: str = "memory", role: str = "client", **options: Any
) -> AsyncIterator[tuple[Websocket, RawPeer]]:
    """One of ours (``role``) and a raw peer at the other end, past the handshake."""
    a, b = await stream_pair(kind)
    made: list[Websocket] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            if role == "client":
                raw = RawPeer(b, masks=False)
                tg.start_soon(raw.accept)
                made.append(await create_websocket_client(a, "localhost", "/", **options))
            else:
                raw = RawPeer(b, masks=True)

                async def accept() -> None:
                    made.append(await create_websocket_server(a, **options))

                tg.start_soon(accept)
                assert (await raw.request()).startswith(b"HTTP/1.1 101 ")
    try:
        yield made[0], raw
    finally:
        with anyio.CancelScope(shield=True):
            await made[0].abort()
            await raw.aclose()


# -- our servers -----------------------------------------------------------------------

Handler = Callable[[Websocket], Awaitable[Any]]


async def echo(ws: Websocket) -> None:
    async for message in ws:
        await ws.send(message.data)


class Recorder:
    """A server handler that reads every message and then notes the close code.

    ``done`` is set once the connection is closed, so a test can wait for
    the server's side to have seen the end.
    """

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.codes: list[int | None] = []
        self.done = anyio.Event()

    async def __call__(self, ws: Websocket) -> None:
        async for message in ws:
            self.messages.append(message.data)
        self.codes.append(ws.close_code)
        self.done.set()


class Server:
    """A `serve` running in a task group for the length of a test."""

    def __init__(self, tg: anyio.abc.TaskGroup, port: int) -> None:
        self.tg = tg
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/"


async def start(tg: anyio.abc.TaskGroup, handler: Handler = echo, **options: Any) -> Server:
    """Our ``serve`` on 127.0.0.1, in ``tg`` until the test cancels it."""
    server = await tg.start(lambda task_status: serve(handler, "127.0.0.1", 0, task_status=task_status, **options))
    return Server(tg, server.port)


async def start_ours(tg: anyio.abc.TaskGroup, handler: Handler, **options: Any) -> int:
    """:func:`start`, for tests that only need the port."""
    return (await start(tg, handler, **options)).port


async def raw_client(port: int, extra: bytes = b"", target: bytes = b"/") -> tuple[RawPeer, bytes]:
    """A hand-driven client over TCP: send an upgrade request (and ``extra``); the peer and the response head."""
    raw = RawPeer(await anyio.connect_tcp("127.0.0.1", port), masks=True)
    with anyio.fail_after(10):
        head = await raw.request(target, extra)
    return raw, head


async def raw_handshake(port: int, extra: bytes = b"") -> tuple[SocketStream, bytes]:
    """A hand-driven client: send an upgrade request, return the stream and the response head."""
    raw, head = await raw_client(port, extra)
    assert not raw.buffer, "bytes behind the response head would be lost"
    return raw.stream, head.partition(b"\r\n\r\n")[0]  # type: ignore[return-value]


async def read_close_code(stream: ByteStream) -> int | None:
    """Read frames (from either side) until a close frame; its code (None at EOF without one)."""
    with anyio.fail_after(10):
        return await RawPeer(stream, masks=True, strict=False).read_close_code()


# -- other libraries' peers ------------------------------------------------------------


#: Upper bound for one call into the peer's thread.
PEER_TIMEOUT = 15.0


class Peer:
    """An asyncio event loop in a daemon thread, where the websockets library runs.

    :meth:`call` runs a coroutine function there and waits for its result
    without blocking our event loop; :meth:`server` starts a websockets
    server there.  What their handlers observe goes through :meth:`put`
    (thread-safe) and comes out of :meth:`get`.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.observed: queue.Queue[Any] = queue.Queue()
        self._servers: list[Any] = []
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

    def keep(self, server: Any) -> None:
        """Have :meth:`stop` close ``server`` too (anything with close() and wait_closed())."""
        self._servers.append(server)

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
            except Exception:  # noqa: BLE001 - the loop is stopped below either way
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


async def aiohttp_server(peer: Peer, handler: Any) -> int:
    """An aiohttp web application in ``peer``'s loop whose ``/`` runs ``handler(ws)``; its port."""
    from aiohttp import web

    async def endpoint(request: Any) -> Any:
        ws = web.WebSocketResponse(max_msg_size=LIMIT, autoping=True)
        await ws.prepare(request)
        try:
            await handler(ws)
        except BaseException as exc:  # surfaces in peer.get()
            peer.put(exc)
            raise
        return ws

    async def start_app() -> tuple[Any, int]:
        app = web.Application()
        app.router.add_get("/", endpoint)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, int(port)

    runner, port = await peer.call(start_app)
    peer.keep(_RunnerAsServer(runner))
    return port


class _RunnerAsServer:
    """Lets Peer.stop() shut an aiohttp runner down like a websockets server."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self._done: Any = None

    def close(self) -> None:
        self._done = self._runner.cleanup()

    async def wait_closed(self) -> None:
        await self._done


def aiohttp_data(message: Any) -> Any:
    """The data of an aiohttp text or binary message, as str or bytes."""
    import aiohttp

    if message.type == aiohttp.WSMsgType.TEXT:
        return message.data
    if message.type == aiohttp.WSMsgType.BINARY:
        return bytes(message.data)
    raise AssertionError(f"unexpected {message.type!r}: {message.data!r}")
