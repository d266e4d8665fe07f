"""How-to: run WebSocket over a connection you opened yourself."""

import os
import sys
import tempfile

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.stapled import StapledObjectStream

from asyncwebsockets import open_websocket_client, open_websocket_server, serve_listener


async def echo_one(stream):
    # Server side of any byte stream: the handshake, then an echo loop.
    async with open_websocket_server(stream) as ws:
        async for message in ws:
            await ws.send(message.data)


async def over_tcp():
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo_one)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        # The Host header names the server; the path is the request target.
        async with open_websocket_client(stream, ("127.0.0.1", port), "/tcp") as ws:
            await ws.send("over TCP")
            print((await ws.receive()).data)
        tg.cancel_scope.cancel()


async def echo(ws):
    async for message in ws:
        await ws.send(message.data)


async def over_unix(path):
    # serve_listener() is serve() for any anyio listener: here a Unix socket.
    listener = await anyio.create_unix_listener(path)
    async with anyio.create_task_group() as tg:
        await tg.start(serve_listener, echo, listener)
        stream = await anyio.connect_unix(path)
        async with open_websocket_client(stream, "localhost", "/unix") as ws:
            await ws.send("over a Unix socket")
            print((await ws.receive()).data)
        tg.cancel_scope.cancel()


class MemoryByteStream(ByteStream):
    """One end of an in-memory byte pipe: handy in tests, no sockets at all."""

    def __init__(self, outgoing, incoming):
        self._objects = StapledObjectStream(outgoing, incoming)
        self._pending = b""

    async def send(self, item):
        await self._objects.send(bytes(item))

    async def receive(self, max_bytes=65536):
        data = self._pending or await self._objects.receive()
        self._pending = data[max_bytes:]
        return data[:max_bytes]

    async def send_eof(self):
        await self._objects.send_eof()

    async def aclose(self):
        await self._objects.aclose()


def memory_pipe():
    a_out, b_in = anyio.create_memory_object_stream(16)
    b_out, a_in = anyio.create_memory_object_stream(16)
    return MemoryByteStream(a_out, a_in), MemoryByteStream(b_out, b_in)


async def in_memory():
    client_end, server_end = memory_pipe()
    async with anyio.create_task_group() as tg:
        tg.start_soon(echo_one, server_end)
        async with open_websocket_client(client_end, "localhost", "/memory") as ws:
            await ws.send("in memory")
            print((await ws.receive()).data)


async def main():
    await over_tcp()
    if sys.platform != "win32":
        with tempfile.TemporaryDirectory() as directory:
            await over_unix(os.path.join(directory, "ws.sock"))
    await in_memory()


if __name__ == "__main__":
    anyio.run(main)
