"""The sans-I/O connection: handshake bytes, close states and failures, no sockets.

Frames from the peer are built by hand (:func:`frame`), not with our own
writer, so the connection is not only checked against itself.
"""

from __future__ import annotations

import base64
import struct
from types import SimpleNamespace

import pytest
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

from asyncwebsockets.connection import Connection, ConnectionState, ConnectionType
from asyncwebsockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    HandshakeRejected,
)

from .helpers import accept_key, frame, head_of, mask


def parse_frames(data: bytes) -> tuple[list[tuple[bool, int, bytes]], bytes]:
    """Split bytes into complete frames ``(fin, opcode, unmasked payload)``; returns the rest too."""
    frames = []
    while len(data) >= 2:
        length = data[1] & 0x7F
        header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        masked = bool(data[1] & 0x80)
        if len(data) < header + 4 * masked:
            break
        if length >= 126:
            length = int.from_bytes(data[2:header], "big")
        start = header + 4 * masked
        if len(data) < start + length:
            break
        payload = data[start : start + length]
        if masked:
            payload = mask(payload, data[header:start])
        frames.append((bool(data[0] & 0x80), data[0] & 0x0F, payload))
        data = data[start + length :]
    return frames, data


def close_code_of(data: bytes) -> int | None:
    """The code in the one close frame that ``data`` holds (1005 for none)."""
    frames, rest = parse_frames(data)
    assert not rest and [opcode for _, opcode, _ in frames] == [8]
    payload = frames[0][2]
    return struct.unpack("!H", payload[:2])[0] if payload else 1005


def pair(codec: SimpleNamespace, **options: object) -> tuple[Connection, Connection]:
    client = Connection(ConnectionType.CLIENT, **options)  # type: ignore[arg-type]
    server = Connection(ConnectionType.SERVER, **options)  # type: ignore[arg-type]
    request = client.initiate(
        "example.com:8080", "/chat?room=1", subprotocols=["v2", "v1"], extra_headers=[("X-Token", "t")]
    )
    (event,) = server.receive_data(request)
    assert isinstance(event, Request)
    assert event.target == "/chat?room=1" and event.host == "example.com:8080"
    assert event.subprotocols == ["v2", "v1"]
    assert (b"x-token", b"t") in event.extra_headers
    (accept,) = client.receive_data(server.accept("v1", [("X-Server", "yes")]))
    assert isinstance(accept, AcceptConnection) and accept.subprotocol == "v1"
    assert client.subprotocol == server.subprotocol == "v1"
    assert (b"x-server", b"yes") in client.response_headers
    assert client.state is server.state is ConnectionState.OPEN
    return client, server


# -- the opening handshake, byte by byte ------------------------------------


def test_client_request_bytes() -> None:
    client = Connection(ConnectionType.CLIENT)
    request = client.initiate(
        "example.com:8080", "/chat?room=1", subprotocols=["v2", "v1"], extra_headers=[("X-Token", "t")]
    )
    assert request.endswith(b"\r\n\r\n")
    line, headers = head_of(request)
    assert line == "GET /chat?room=1 HTTP/1.1"
    assert headers["host"] == "example.com:8080"
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"], validate=True)) == 16
    assert [p.strip() for p in headers["sec-websocket-protocol"].split(",")] == ["v2", "v1"]
    assert headers["x-token"] == "t"
    assert client.state is ConnectionState.CONNECTING
    # No frames before the handshake is over.
    with pytest.raises(RuntimeError):
        client.send_message("too early")


def test_client_keys_are_random() -> None:
    keys = {head_of(Connection(ConnectionType.CLIENT).initiate("h", "/"))[1]["sec-websocket-key"] for _ in range(5)}
    assert len(keys) == 5


def test_server_response_bytes() -> None:
    # The example of RFC 6455 section 1.3.
    server = Connection(ConnectionType.SERVER)
    (request,) = server.receive_data(
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert isinstance(request, Request)
    assert request.subprotocols == ["chat", "superchat"]
    assert (b"origin", b"http://example.com") in request.extra_headers
    response = server.accept("chat", [("X-Served-By", "test")])
    line, headers = head_of(response)
    assert line.startswith("HTTP/1.1 101 ")
    assert headers["upgrade"].lower() == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["sec-websocket-protocol"] == "chat"
    assert headers["x-served-by"] == "test"
    assert server.state is ConnectionState.OPEN and server.subprotocol == "chat"
    with pytest.raises(RuntimeError):
        server.accept()


def test_no_subprotocol_unless_chosen() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/", subprotocols=["a", "b"]))
    response = server.accept()
    assert "sec-websocket-protocol" not in head_of(response)[1]
    client.receive_data(response)
    assert client.subprotocol is None and server.subprotocol is None
    assert client.state is ConnectionState.OPEN


def test_accept_unoffered_subprotocol_refused() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/", subprotocols=["a"]))
    with pytest.raises(ValueError):
        server.accept("b")


def _response_to(request: bytes, extra: bytes = b"") -> bytes:
    key = head_of(request)[1]["sec-websocket-key"].encode()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n" + extra + b"\r\n"
    )


def test_client_accepts_handwritten_response() -> None:
    client = Connection(ConnectionType.CLIENT)
    response = _response_to(
        client.initiate("h", "/", subprotocols=["a"]), b"Sec-WebSocket-Protocol: a\r\nX-Extra: 1\r\n"
    )
    (event,) = client.receive_data(response)
    assert isinstance(event, AcceptConnection)
    assert client.subprotocol == "a"
    assert (b"x-extra", b"1") in client.response_headers


@pytest.mark.parametrize(
    "extra",
    [b"Sec-WebSocket-Protocol: unoffered\r\n", b"Sec-WebSocket-Extensions: permessage-deflate\r\n"],
)
def test_client_refuses_what_it_did_not_offer(extra: bytes) -> None:
    client = Connection(ConnectionType.CLIENT)
    response = _response_to(client.initiate("h", "/", subprotocols=["a"]), extra)
    with pytest.raises(HandshakeError):
        client.receive_data(response)
    assert client.closed


def test_client_refuses_bad_accept_key() -> None:
    client = Connection(ConnectionType.CLIENT)
    client.initiate("h", "/")
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: dGhlIHdyb25nIGtleQ==\r\n\r\n"
    )
    with pytest.raises(HandshakeError) as info:
        client.receive_data(response)
    assert isinstance(info.value, ConnectionError)
    assert not isinstance(info.value, HandshakeRejected)
    assert client.closed


def test_client_refuses_101_without_upgrade() -> None:
    client = Connection(ConnectionType.CLIENT)
    request = client.initiate("h", "/")
    response = _response_to(request).replace(b"Upgrade: websocket\r\n", b"")
    with pytest.raises(HandshakeError):
        client.receive_data(response)


def test_client_refuses_garbage_response() -> None:
    client = Connection(ConnectionType.CLIENT)
    client.initiate("h", "/")
    with pytest.raises(HandshakeError):
        client.receive_data(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


# -- rejections -------------------------------------------------------------


def test_client_sees_rejection_with_status_headers_body() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/"))
    response = server.reject(403, [("X-Why", "no")], "go away")
    assert server.closed
    assert head_of(response)[0].startswith("HTTP/1.1 403 ")
    with pytest.raises(HandshakeRejected) as info:
        client.receive_data(response)
    assert info.value.status_code == 403
    assert info.value.body == b"go away"
    assert (b"x-why", b"no") in info.value.headers
    assert isinstance(info.value, HandshakeError) and isinstance(info.value, ConnectionError)
    assert client.closed


def test_rejection_in_pieces() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/"))
    response = server.reject(404, body=b"no such room")
    for i in range(len(response) - 1):
        assert client.receive_data(response[i : i + 1]) == []
    with pytest.raises(HandshakeRejected) as info:
        client.receive_data(response[-1:])
    assert (info.value.status_code, info.value.body) == (404, b"no such room")


def test_rejection_body_delimited_by_eof() -> None:
    client = Connection(ConnectionType.CLIENT)
    client.initiate("h", "/")
    assert client.receive_data(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy") == []
    with pytest.raises(HandshakeRejected) as info:
        client.receive_eof()
    assert (info.value.status_code, info.value.body) == (503, b"busy")


@pytest.mark.parametrize("status", [101, 200, 299, 600])
def test_reject_needs_an_error_or_redirect_status(status: int) -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/"))
    with pytest.raises(ValueError):
        server.reject(status)
    # Still unanswered: the request can be refused properly.
    assert server.reject(500).startswith(b"HTTP/1.1 500 ")


def test_reject_with_a_redirect() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client.initiate("h", "/"))
    response = server.reject(308, [("Location", "wss://h/")])
    with pytest.raises(HandshakeRejected) as info:
        client.receive_data(response)
    assert info.value.status_code == 308
    assert (b"location", b"wss://h/") in info.value.headers


def test_roles_are_enforced() -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    with pytest.raises(RuntimeError):
        server.initiate("h", "/")
    with pytest.raises(RuntimeError):
        client.accept()
    with pytest.raises(RuntimeError):
        server.accept()  # nothing received yet


# -- malformed requests -------------------------------------------------------


def _request(**overrides: bytes) -> bytes:
    headers = {
        b"Host": b"example.com",
        b"Upgrade": b"websocket",
        b"Connection": b"Upgrade",
        b"Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef"),
        b"Sec-WebSocket-Version": b"13",
    }
    method = overrides.pop("method", b"GET")
    version = overrides.pop("version", b"HTTP/1.1")
    for name, value in overrides.items():
        key = name.replace("_", "-").encode()
        headers = {k: v for k, v in headers.items() if k.lower() != key.lower()}
        if value:
            headers[key] = value
    lines = [method + b" / " + version] + [k + b": " + v for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (_request(), 101),
        (_request(Connection=b"keep-alive, Upgrade"), 101),
        (_request(Upgrade=b"WebSocket"), 101),
        (_request(method=b"POST"), 405),
        (_request(method=b"HEAD"), 405),
        (_request(version=b"HTTP/1.0"), 400),
        (_request(version=b"HTTP/0.9"), 400),
        (_request(Sec_WebSocket_Version=b"8"), 426),
        (_request(Sec_WebSocket_Version=b"14"), 426),
        (_request(Sec_WebSocket_Version=b""), 400),
        (_request(Sec_WebSocket_Key=b""), 400),
        (_request(Sec_WebSocket_Key=b"c2hvcnQ="), 400),
        (_request(Sec_WebSocket_Key=b"not base64!!"), 400),
        (_request(Sec_WebSocket_Key=base64.b64encode(b"0123456789abcdefg")), 400),
        (_request(Upgrade=b""), 426),
        (_request(Upgrade=b"h2c"), 426),
        (_request(Connection=b"keep-alive"), 426),
        (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 426),  # plain HTTP
        (_request(Host=b""), 400),
        (b"garbage\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n", 400),
    ],
)
def test_server_handshake_validation(request_bytes: bytes, status: int) -> None:
    server = Connection(ConnectionType.SERVER)
    if status == 101:
        assert isinstance(server.receive_data(request_bytes)[0], Request)
        assert server.accept().startswith(b"HTTP/1.1 101 ")
        return
    with pytest.raises(HandshakeError) as info:
        server.receive_data(request_bytes)
    assert isinstance(info.value, ConnectionError)
    response = server.data_to_send()
    line, headers = head_of(response)
    assert line.startswith(f"HTTP/1.1 {status} ")
    body = response.partition(b"\r\n\r\n")[2]
    if request_bytes.startswith(b"HEAD "):
        # The length of the body a GET would get, and no body (RFC 9110 section 9.3.2).
        assert int(headers["content-length"]) > 0 and body == b""
    else:
        assert int(headers["content-length"]) == len(body)
    assert headers["connection"].lower() == "close"
    if status == 426:
        assert headers["sec-websocket-version"] == "13"
        if b"upgrade: websocket" not in request_bytes.lower():
            assert headers["upgrade"] == "websocket"
    if status == 405:
        assert headers["allow"] == "GET"
    assert server.closed
    assert server.data_to_send() == b""
    with pytest.raises(RuntimeError):
        server.accept()


def test_request_split_byte_by_byte() -> None:
    server = Connection(ConnectionType.SERVER)
    request = _request()
    for i in range(len(request) - 1):
        assert server.receive_data(request[i : i + 1]) == []
    (event,) = server.receive_data(request[-1:])
    assert isinstance(event, Request) and event.target == "/"


# -- messages ---------------------------------------------------------------


def test_messages_both_ways(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert server.receive_data(client.send_message("héllo") + client.send_message(b"\x00\x01")) == [
        TextMessage("héllo"),
        BytesMessage(b"\x00\x01"),
    ]
    assert client.receive_data(server.send_message("reply")) == [TextMessage("reply")]
    assert server.receive_data(client.send_message(bytearray(b"ba")) + client.send_message(memoryview(b"mv"))) == [
        BytesMessage(b"ba"),
        BytesMessage(b"mv"),
    ]
    assert server.receive_data(client.send_message("") + client.send_message(b"")) == [
        TextMessage(""),
        BytesMessage(b""),
    ]


def test_frames_on_the_wire_are_masked_by_the_client_only(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    out = client.send_message("abc")
    assert out[0] == 0x81 and out[1] == 0x80 | 3 and mask(out[6:], out[2:6]) == b"abc"
    assert server.send_message("abc") == b"\x81\x03abc"
    assert server.send_message(b"\x00" * 200)[:4] == b"\x82\x7e\x00\xc8"
    # From 64 KiB on, a server's bytes payload comes with its header, uncopied;
    # a client's is masked into its frame.
    payload = b"\x00" * 70000
    header, same = server.send_message(payload)
    assert header == b"\x82\x7f" + struct.pack("!Q", 70000) and same is payload
    assert server.send_message(bytearray(payload))[:10] == header
    out = client.send_message(payload)
    assert out[:10] == b"\x82\xff" + struct.pack("!Q", 70000) and mask(out[14:], out[10:14]) == payload


def test_peer_frames_split_anywhere(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    data = frame(1, "∂elta".encode(), fin=False) + frame(9, b"p") + frame(0, b"!" * 300) + frame(2, b"\x01")
    events = []
    for i in range(len(data)):
        events += server.receive_data(data[i : i + 1])
    assert events == [Ping(b"p"), TextMessage("∂elta" + "!" * 300), BytesMessage(b"\x01")]


def test_fragmented_send(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    data = (
        client.send_message("one ", final=False)
        + client.send_message("two ", final=False)
        + client.send_message("three")
    )
    frames, _ = parse_frames(data)
    assert [(fin, opcode) for fin, opcode, _ in frames] == [(False, 1), (False, 0), (True, 0)]
    assert server.receive_data(data) == [TextMessage("one two three")]
    # Control frames may come between fragments.
    data = client.send_message(b"a", final=False) + client.send_ping(b"!") + client.send_message(b"b")
    assert server.receive_data(data) == [Ping(b"!"), BytesMessage(b"ab")]


@pytest.mark.parametrize("first, second", [("text", b"bytes"), (b"bytes", "text")])
def test_fragments_of_mixed_type_refused(codec: SimpleNamespace, first: object, second: object) -> None:
    client, server = pair(codec)
    data = client.send_message(first, final=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.send_message(second)  # type: ignore[arg-type]
    # The message can still be finished with the right type.
    data += client.send_message(first)  # type: ignore[arg-type]
    (event,) = server.receive_data(data)
    assert event.data == first * 2  # type: ignore[attr-defined, operator]


def test_message_must_be_str_or_bytes(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    with pytest.raises(TypeError):
        client.send_message(42)  # type: ignore[arg-type]


# -- pings ------------------------------------------------------------------


def test_ping_is_answered(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert server.receive_data(client.send_ping(b"hi")) == [Ping(b"hi")]
    assert server.data_to_send() == b"\x8a\x02hi"  # a pong, unmasked, same payload
    assert server.data_to_send() == b""
    assert client.receive_data(server.send_ping(b"")) == [Ping(b"")]
    pong = client.data_to_send()
    assert parse_frames(pong)[0] == [(True, 0xA, b"")] and pong[1] & 0x80
    with pytest.raises(ValueError):
        client.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        client.send_pong(b"x" * 126)


def test_every_ping_gets_its_pong(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    server.receive_data(frame(9, b"1") + frame(9, b"2") + frame(9, b"3"))
    assert parse_frames(server.data_to_send())[0] == [(True, 0xA, b"1"), (True, 0xA, b"2"), (True, 0xA, b"3")]


def test_no_pong_after_our_close(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    close = server.send_close(1000)
    assert server.state is ConnectionState.LOCAL_CLOSING
    assert server.receive_data(frame(9, b"late")) == [Ping(b"late")]
    assert server.data_to_send() == b""
    assert close_code_of(close) == 1000


# -- the closing handshake ---------------------------------------------------


def test_close_handshake_client_first(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    close = client.send_close(1000, "bye")
    assert client.state is ConnectionState.LOCAL_CLOSING
    assert client.send_close(1000) == b""  # once only
    with pytest.raises(ConnectionClosedOK):
        client.send_message("after our close frame")
    assert server.receive_data(close) == [CloseConnection(1000, "bye")]
    assert server.state is ConnectionState.CLOSED and server.should_close_transport
    reply = server.data_to_send()
    assert reply == b"\x88\x05\x03\xe8bye"  # code and reason echoed, unmasked
    assert client.receive_data(reply) == [CloseConnection(1000, "bye")]
    assert client.state is ConnectionState.CLOSED and not client.should_close_transport
    assert client.data_to_send() == b""
    assert isinstance(client.closed_exception(), ConnectionClosedOK)
    with pytest.raises(ConnectionClosedOK):
        client.send_message("too late")
    assert (server.close_code, server.close_reason) == (1000, "bye")


def test_close_handshake_server_first(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    assert client.receive_data(server.send_close(4001, "custom")) == [CloseConnection(4001, "custom")]
    assert client.closed and not client.should_close_transport  # the server closes TCP
    reply = client.data_to_send()
    assert close_code_of(reply) == 4001
    assert server.receive_data(reply) == [CloseConnection(4001, "custom")]
    assert server.closed and server.should_close_transport
    assert server.data_to_send() == b""
    assert (client.close_code, client.close_reason) == (4001, "custom")
    error = client.closed_exception()
    assert isinstance(error, ConnectionClosedError) and (error.code, error.reason) == (4001, "custom")


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_peer_close_code_echoed(codec: SimpleNamespace, code: int) -> None:
    _, server = pair(codec)
    events = server.receive_data(frame(8, struct.pack("!H", code) + "why ∅".encode()))
    assert events == [CloseConnection(code, "why ∅")]
    assert close_code_of(server.data_to_send()) == code
    assert server.close_code == code and server.close_reason == "why ∅"
    ok = code in (1000, 1001)
    assert isinstance(server.closed_exception(), ConnectionClosedOK if ok else ConnectionClosedError)


def test_close_without_code_is_answered_without_code(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    with pytest.raises(ValueError):
        client.send_close(None, "a reason needs a code")
    close = client.send_close(None)
    assert close_code_of(close) == 1005
    assert server.receive_data(close) == [CloseConnection(1005, "")]
    assert server.data_to_send() == b"\x88\x00"
    assert server.close_code == 1005


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 1004, 1016, 2000, 5000, 0, -1])
def test_reserved_codes_never_sent(codec: SimpleNamespace, code: int) -> None:
    client, _ = pair(codec)
    with pytest.raises(ValueError):
        client.send_close(code)
    assert client.state is ConnectionState.OPEN
    assert client.send_message("still open")


def test_close_reason_too_long_refused(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    with pytest.raises(ValueError):
        client.send_close(1000, "x" * 124)
    assert client.state is ConnectionState.OPEN
    assert close_code_of(client.send_close(1000, "x" * 123)) == 1000


def test_send_after_close_raises(codec: SimpleNamespace) -> None:
    client, server = pair(codec)
    client.receive_data(server.send_close(1001))
    for attempt in (lambda: client.send_message("x"), lambda: client.send_ping(), lambda: client.send_pong()):
        with pytest.raises(ConnectionClosedOK) as info:
            attempt()
        assert info.value.code == 1001
        assert isinstance(info.value, ConnectionClosed) and isinstance(info.value, ConnectionError)
    assert client.send_close() == b""


def test_eof_is_abnormal(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    client.receive_eof()
    assert client.closed and client.close_code == 1006
    with pytest.raises(ConnectionClosedError) as info:
        client.send_message("x")
    assert info.value.code == 1006


def test_nothing_parsed_after_eof(codec: SimpleNamespace) -> None:
    # Also what a side that gave up waiting for the close reply relies on.
    _, server = pair(codec)
    server.receive_eof()
    assert server.receive_data(frame(1, b"late")) == []
    assert server.data_to_send() == b""


def test_frames_after_close_are_ignored(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    events = server.receive_data(frame(8, struct.pack("!H", 1000)) + frame(1, b"after"))
    assert events[0] == CloseConnection(1000, "")
    server.data_to_send()
    assert server.receive_data(frame(1, b"later")) == []
    assert server.data_to_send() == b""


# -- failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, code",
    [
        (frame(3, b"x"), 1002),  # reserved opcode
        (frame(1, b"x", rsv=0x40), 1002),  # RSV1 without an extension
        (frame(1, b"x", key=None), 1002),  # unmasked from a client
        (frame(0, b"x"), 1002),  # continuation out of nowhere
        (frame(9, b"x", fin=False), 1002),  # fragmented control frame
        (frame(9, b"x" * 126), 1002),  # control frame too long
        (frame(8, b"\x03"), 1002),  # 1-byte close payload
        (frame(8, struct.pack("!H", 1006)), 1002),  # a code not for the wire
        (frame(1, b"\xff"), 1007),
        (frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
        (frame(2, b"x" * 100), 1009),
        (frame(2, b"x" * 40, fin=False) + frame(0, b"x" * 40), 1009),
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
    assert close_code_of(server.data_to_send()) == code
    assert server.receive_data(frame(1, b"ignored")) == []
    assert server.data_to_send() == b""
    error = server.closed_exception()
    assert isinstance(error, ConnectionClosedError) and error.code == code
    assert server.close_code == code
    with pytest.raises(ConnectionClosedError):
        server.send_message("after the failure")


def test_violation_without_earlier_events_fails_at_once(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    assert server.receive_data(frame(3, b"x")) == []
    assert server.closed and not server.failure_pending
    assert server.close_code == 1002
    assert close_code_of(server.data_to_send()) == 1002


def test_masked_frame_from_server_fails_client(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    assert client.receive_data(frame(1, b"hi", key=None) + frame(1, b"masked")) == [TextMessage("hi")]
    assert client.receive_data(b"") == []
    assert client.close_code == 1002
    out = client.data_to_send()
    assert out[1] & 0x80  # the client's close frame is masked too
    assert close_code_of(out) == 1002


def test_fail_during_closing_sends_nothing_more(codec: SimpleNamespace) -> None:
    _, server = pair(codec)
    server.send_close(1000)
    server.receive_data(frame(3, b"x"))
    assert server.closed and server.close_code == 1002
    assert server.data_to_send() == b""


def test_local_failure_for_keepalive(codec: SimpleNamespace) -> None:
    client, _ = pair(codec)
    client.fail(1011, "keepalive ping timeout")
    assert client.closed and client.close_code == 1011
    assert client.close_reason == "keepalive ping timeout"
    assert close_code_of(client.data_to_send()) == 1011


# -- frames right behind the handshake ----------------------------------------


def test_pipelined_frames_after_request_and_response(codec: SimpleNamespace) -> None:
    client = Connection(ConnectionType.CLIENT)
    server = Connection(ConnectionType.SERVER)
    request = client.initiate("h", "/")
    # A client that does not wait for the 101 before its first frames.
    (event,) = server.receive_data(request + frame(1, b"early") + frame(9, b"p?"))
    assert isinstance(event, Request)
    response = server.accept()
    assert server.receive_data(b"") == [TextMessage("early"), Ping(b"p?")]
    assert server.data_to_send() == b"\x8a\x02p?"
    events = client.receive_data(response + server.send_message("right behind") + server.send_ping(b"s"))
    assert isinstance(events[0], AcceptConnection)
    assert events[1:] == [TextMessage("right behind"), Ping(b"s")]
    assert parse_frames(client.data_to_send())[0] == [(True, 0xA, b"s")]


def test_pipelined_close_behind_request(codec: SimpleNamespace) -> None:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(_request() + frame(1, b"hello") + frame(8, struct.pack("!H", 1000)))
    server.accept()
    assert server.receive_data(b"") == [TextMessage("hello"), CloseConnection(1000, "")]
    assert server.closed and close_code_of(server.data_to_send()) == 1000


def test_pipelined_violation_behind_response(codec: SimpleNamespace) -> None:
    client = Connection(ConnectionType.CLIENT)
    response = _response_to(client.initiate("h", "/"))
    events = client.receive_data(response + frame(1, b"ok", key=None) + frame(3, b"", key=None))
    assert isinstance(events[0], AcceptConnection) and events[1:] == [TextMessage("ok")]
    assert client.failure_pending
    assert client.receive_data(b"") == []
    assert client.close_code == 1002
