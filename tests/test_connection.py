"""The sans-I/O connection: handshake, close states and failures, no sockets."""

from __future__ import annotations

import base64
import struct
from types import SimpleNamespace
from typing import Tuple

import pytest
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage

from asyncwebsockets.connection import Connection, ConnectionState, ConnectionType
from asyncwebsockets.exceptions import ConnectionClosedError, ConnectionClosedOK, HandshakeError, HandshakeRejected

from .test_codec import frame


def pair(codec: SimpleNamespace, **options: object) -> Tuple[Connection, Connection]:
    client = Connection(ConnectionType.CLIENT, **options)  # type: ignore[arg-type]
    server = Connection(ConnectionType.SERVER, **options)  # type: ignore[arg-type]
    request = client.initiate("example.com:8080", "/chat?room=1", subprotocols=["v2", "v1"], extra_headers=[("X-Token", "t")])
    (event,) = server.receive_data(request)
    assert isinstance(event, Request)
    assert event.target == "/chat?room=1" and event.host == "example.com:8080"
    assert event.subprotocols == ["v2", "v1"]
    assert (b"x-token", b"t") in event.extra_headers
    (accept,) = client.receive_data(server.accept("v1", [("X-Server", "yes")]))
    assert isinstance(accept, AcceptConnection) and accept.subprotocol == "v1"
    assert (b"x-server", b"yes") in client.response_headers
    assert client.state is server.state is ConnectionState.OPEN
    return client, server


def test_messages_both_ways(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert server.receive_data(client.send_message("héllo") + client.send_message(b"\x00\x01")) == [
        TextMessage("héllo"),
        BytesMessage(b"\x00\x01"),
    ]
    assert client.receive_data(server.send_message("reply")) == [TextMessage("reply")]


def test_fragmented_send(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    data = client.send_message("one ", final=False) + client.send_message("two ", final=False) + client.send_message("three")
    assert server.receive_data(data) == [TextMessage("one two three")]
    client.send_message(b"bytes", final=False)
    with pytest.raises(TypeError):
        client.send_message("text in a binary message")


def test_ping_is_answered(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert server.receive_data(client.send_ping(b"hi")) == [Ping(b"hi")]
    pong = server.data_to_send()
    assert pong == b"\x8a\x02hi"
    with pytest.raises(ValueError):
        client.send_ping(b"x" * 126)


def test_close_handshake_client_first(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    close = client.send_close(1000, "bye")
    assert client.state is ConnectionState.LOCAL_CLOSING
    assert server.receive_data(close) == [CloseConnection(1000, "bye")]
    assert server.state is ConnectionState.CLOSED and server.should_close_transport
    reply = server.data_to_send()
    assert reply == b"\x88\x02\x03\xe8"  # the code echoed, unmasked
    assert client.receive_data(reply) == [CloseConnection(1000, "")]
    assert client.state is ConnectionState.CLOSED and not client.should_close_transport
    assert isinstance(client.closed_exception(), ConnectionClosedOK)
    with pytest.raises(ConnectionClosedOK):
        client.send_message("too late")


def test_close_without_code_is_answered_without_code(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert server.receive_data(client.send_close(None)) == [CloseConnection(1005, "")]
    assert server.data_to_send() == b"\x88\x00"


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 2000, 5000])
def test_reserved_codes_never_sent(codec: SimpleNamespace, code: int) -> None:
    client, _ = pair(codec)
    with pytest.raises(ValueError):
        client.send_close(code)
    assert client.state is ConnectionState.OPEN


@pytest.mark.parametrize(
    "bad, code",
    [
        (frame(3, b"x"), 1002),
        (frame(1, b"\xff"), 1007),
        (frame(2, b"x" * 100), 1009),
        (frame(8, struct.pack("!H", 1006)), 1002),
    ],
)
def test_violation_fails_connection(codec: SimpleNamespace, bad: bytes, code: int) -> None:
    _, server = pair(codec, max_message_size=64)
    events = server.receive_data(frame(1, b"before") + bad + frame(1, b"after"))
    assert events == [TextMessage("before")]
    # The application may still answer "before"; the failure comes next.
    assert server.failure_pending and not server.closed
    assert server.send_message("answer to before")
    assert server.receive_data(b"") == []
    assert not server.failure_pending
    assert server.closed and server.should_close_transport
    assert server.failure is not None and server.failure.code == code
    out = server.data_to_send()
    assert out[:2] == bytes([0x88, len(out) - 2]) and struct.unpack("!H", out[2:4])[0] == code
    assert server.receive_data(frame(1, b"ignored")) == []
    assert isinstance(server.closed_exception(), ConnectionClosedError)
    assert server.close_code == code


def test_eof_is_abnormal(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    client.receive_eof()
    assert client.closed and client.close_code == 1006


def test_pipelined_frames_after_request_and_response(codec: SimpleNamespace) -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    request = client.initiate("h", "/")
    # A client that does not wait for the 101 before its first frame.
    (event,) = server.receive_data(request + frame(1, b"early"))
    assert isinstance(event, Request)
    response = server.accept()
    assert server.receive_data(b"") == [TextMessage("early")]
    events = client.receive_data(response + server.send_message("right behind"))
    assert events[1:] == [TextMessage("right behind")]


def _request(**overrides: bytes) -> bytes:
    headers = {
        b"Host": b"example.com",
        b"Upgrade": b"websocket",
        b"Connection": b"Upgrade",
        b"Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef"),
        b"Sec-WebSocket-Version": b"13",
    }
    method = overrides.pop("method", b"GET")
    for name, value in overrides.items():
        key = name.replace("_", "-").encode()
        headers = {k: v for k, v in headers.items() if k.lower() != key.lower()}
        if value:
            headers[key] = value
    lines = [method + b" / HTTP/1.1"] + [k + b": " + v for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (_request(), 101),
        (_request(method=b"POST"), 400),
        (_request(Sec_WebSocket_Version=b"8"), 426),
        (_request(Sec_WebSocket_Version=b""), 400),
        (_request(Sec_WebSocket_Key=b""), 400),
        (_request(Sec_WebSocket_Key=b"c2hvcnQ="), 400),
        (_request(Sec_WebSocket_Key=b"not base64!!"), 400),
        (_request(Upgrade=b""), 400),
        (_request(Connection=b"keep-alive"), 400),
        (_request(Host=b""), 400),
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n", 400),
    ],
)
def test_server_handshake_validation(request_bytes: bytes, status: int) -> None:
    server = Connection(ConnectionType.SERVER)
    if status == 101:
        assert isinstance(server.receive_data(request_bytes)[0], Request)
        assert server.accept().startswith(b"HTTP/1.1 101 ")
        return
    with pytest.raises(HandshakeError):
        server.receive_data(request_bytes)
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 %d " % status)
    if status == 426:
        assert b"Sec-WebSocket-Version: 13" in response
    assert server.closed


def test_client_refuses_bad_accept_key() -> None:
    client = Connection(ConnectionType.CLIENT)
    client.initiate("h", "/")
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: dGhlIHdyb25nIGtleQ==\r\n\r\n"
    )
    with pytest.raises(HandshakeError):
        client.receive_data(response)


def test_client_sees_rejection_with_body() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/"))
    response = server.reject(403, [("X-Why", "no")], "go away")
    with pytest.raises(HandshakeRejected) as info:
        client.receive_data(response)
    assert info.value.status_code == 403
    assert info.value.body == b"go away"
    assert (b"x-why", b"no") in info.value.headers
    assert isinstance(info.value, ConnectionError)


def test_accept_unoffered_subprotocol_refused() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/", subprotocols=["a"]))
    with pytest.raises(ValueError):
        server.accept("b")


def test_violation_without_earlier_events_fails_at_once(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    assert server.receive_data(frame(3, b"x")) == []
    assert server.closed and not server.failure_pending
    assert server.close_code == 1002
