"""Negotiating permessage-deflate: what a client offers, what a server accepts, what a client allows.

Pure functions, no I/O: the offers and responses are strings as they appear
in ``Sec-WebSocket-Extensions`` (one element each).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import AcceptConnection

from asyncwebsockets import HandshakeError, PerMessageDeflate
from asyncwebsockets.connection import Connection
from asyncwebsockets.permessage_deflate import (
    NegotiationError,
    accept_offers,
    build_offer,
    check_compression,
    parse_response,
)

from .helpers import accept_key

DEFAULT = PerMessageDeflate()


# -- the settings ---------------------------------------------------------------


def test_defaults() -> None:
    assert DEFAULT == PerMessageDeflate(False, False, 15, 15, 6, 8)


@pytest.mark.parametrize(
    "options",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": 12.0},
        {"client_max_window_bits": True},
        {"level": 10},
        {"level": -2},
        {"memory_level": 0},
        {"memory_level": 10},
    ],
)
def test_settings_out_of_range(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PerMessageDeflate(**options)


@pytest.mark.parametrize("bits", range(8, 16))
def test_every_window_size_is_a_setting(bits: int) -> None:
    settings = PerMessageDeflate(server_max_window_bits=bits, client_max_window_bits=bits, level=-1, memory_level=1)
    assert settings.server_max_window_bits == settings.client_max_window_bits == bits


def test_check_compression() -> None:
    assert check_compression(None) is None
    assert check_compression("deflate") == DEFAULT
    custom = PerMessageDeflate(client_no_context_takeover=True)
    assert check_compression(custom) is custom
    for bad in ("Deflate", "gzip", "", True, 15, {"level": 1}):
        with pytest.raises(ValueError):
            check_compression(bad)  # type: ignore[arg-type]


# -- the client's offer --------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, offer",
    [
        (DEFAULT, "permessage-deflate; client_max_window_bits"),
        (PerMessageDeflate(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=10"),
        (
            PerMessageDeflate(server_max_window_bits=9),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits",
        ),
        (
            PerMessageDeflate(True, True, 12, 8),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12; client_max_window_bits=8",
        ),
        # level and memory_level are ours alone: never sent.
        (PerMessageDeflate(level=1, memory_level=2), "permessage-deflate; client_max_window_bits"),
    ],
)
def test_offer(settings: PerMessageDeflate, offer: str) -> None:
    assert build_offer(settings) == offer


# -- the server's choice ----------------------------------------------------------------


def accept(offers: list[str], settings: PerMessageDeflate = DEFAULT) -> str | None:
    result = accept_offers(offers, settings)
    return None if result is None else result[0]


@pytest.mark.parametrize(
    "offer, response",
    [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"),
        ('permessage-deflate; client_max_window_bits="10"', "permessage-deflate; client_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
        ("permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"),
        ("  permessage-deflate ;server_max_window_bits = 12 ", "permessage-deflate; server_max_window_bits=12"),
        (
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
            "client_max_window_bits=15; server_max_window_bits=15",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=15; client_max_window_bits=15",
        ),
    ],
)
def test_server_accepts(offer: str, response: str) -> None:
    assert accept([offer]) == response


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; unknown",
        "permessage-deflate; unknown=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=abc",
        'permessage-deflate; client_max_window_bits="1 0"',
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate;",
        "permessage-deflate; =9",
    ],
)
def test_server_declines_invalid_offers(offer: str) -> None:
    assert accept([offer]) is None
    # ... and takes the next valid one instead (RFC 7692 section 5).
    assert accept([offer, "permessage-deflate"]) == "permessage-deflate"


def test_server_skips_other_extensions_and_picks_the_first_acceptable() -> None:
    offers = [
        "x-webkit-deflate-frame",
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate",
    ]
    response, agreed = accept_offers(offers, DEFAULT) or ("", DEFAULT)
    assert response == "permessage-deflate; server_max_window_bits=9"
    assert agreed.server_max_window_bits == 9
    assert accept(["x-webkit-deflate-frame", "foo; bar=1"]) is None
    assert accept([]) is None


def test_server_limits_its_own_window() -> None:
    settings = PerMessageDeflate(server_max_window_bits=10)
    # Allowed even when the client did not ask (RFC 7692 section 7.1.2.1).
    assert accept(["permessage-deflate"], settings) == "permessage-deflate; server_max_window_bits=10"
    # The smaller of ours and theirs.
    assert accept(["permessage-deflate; server_max_window_bits=9"], settings) == (
        "permessage-deflate; server_max_window_bits=9"
    )
    assert accept(["permessage-deflate; server_max_window_bits=12"], settings) == (
        "permessage-deflate; server_max_window_bits=10"
    )


def test_server_limits_the_clients_window_only_if_offered() -> None:
    settings = PerMessageDeflate(client_max_window_bits=9)
    # A client that did not offer client_max_window_bits may use 15 bits.
    assert accept(["permessage-deflate"], settings) is None
    assert accept(["permessage-deflate", "permessage-deflate; client_max_window_bits"], settings) == (
        "permessage-deflate; client_max_window_bits=9"
    )
    assert accept(["permessage-deflate; client_max_window_bits=8"], settings) == (
        "permessage-deflate; client_max_window_bits=8"
    )


def test_server_asks_for_no_context_takeover() -> None:
    settings = PerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True)
    response, agreed = accept_offers(["permessage-deflate"], settings) or ("", DEFAULT)
    assert response == "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    assert agreed.server_no_context_takeover and agreed.client_no_context_takeover


def test_server_agreement_keeps_local_settings() -> None:
    settings = PerMessageDeflate(level=1, memory_level=3)
    _, agreed = accept_offers(["permessage-deflate; client_max_window_bits=11"], settings) or ("", DEFAULT)
    assert agreed == PerMessageDeflate(False, False, 15, 11, 1, 3)


# -- the client's check of the response --------------------------------------------------------


@pytest.mark.parametrize(
    "offered, response, agreed",
    [
        (DEFAULT, "permessage-deflate", DEFAULT),
        (DEFAULT, "permessage-deflate; server_max_window_bits=8", PerMessageDeflate(server_max_window_bits=8)),
        (DEFAULT, "permessage-deflate; client_max_window_bits=9", PerMessageDeflate(client_max_window_bits=9)),
        (DEFAULT, "permessage-deflate; server_no_context_takeover", PerMessageDeflate(server_no_context_takeover=True)),
        (DEFAULT, "permessage-deflate; client_no_context_takeover", PerMessageDeflate(client_no_context_takeover=True)),
        (
            PerMessageDeflate(True, True, 10, 10),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8",
            PerMessageDeflate(True, True, 9, 8),
        ),
        # We said we would not take over our context: that holds whatever the answer.
        (
            PerMessageDeflate(client_no_context_takeover=True),
            "permessage-deflate",
            PerMessageDeflate(client_no_context_takeover=True),
        ),
        (
            PerMessageDeflate(client_max_window_bits=12),
            "permessage-deflate",
            PerMessageDeflate(client_max_window_bits=12),
        ),
    ],
)
def test_client_accepts_response(offered: PerMessageDeflate, response: str, agreed: PerMessageDeflate) -> None:
    assert parse_response(response, offered) == agreed


@pytest.mark.parametrize(
    "offered, response",
    [
        (DEFAULT, "x-webkit-deflate-frame"),
        (DEFAULT, "permessage-deflate; unknown"),
        (DEFAULT, "permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        (DEFAULT, "permessage-deflate; server_max_window_bits"),
        (DEFAULT, "permessage-deflate; server_max_window_bits=16"),
        # client_max_window_bits in a response needs a value.
        (DEFAULT, "permessage-deflate; client_max_window_bits"),
        (DEFAULT, "permessage-deflate; client_max_window_bits=7"),
        # More than we offered.
        (PerMessageDeflate(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=11"),
        (PerMessageDeflate(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=11"),
        # What we asked for, not granted.
        (PerMessageDeflate(server_max_window_bits=10), "permessage-deflate"),
        (PerMessageDeflate(server_no_context_takeover=True), "permessage-deflate"),
    ],
)
def test_client_refuses_response(offered: PerMessageDeflate, response: str) -> None:
    with pytest.raises(NegotiationError):
        parse_response(response, offered)


@pytest.mark.parametrize("client_bits", range(8, 16))
@pytest.mark.parametrize("server_bits", range(8, 16))
def test_offer_and_acceptance_agree(client_bits: int, server_bits: int) -> None:
    """Whatever a client offers, our server's answer is one our client accepts, with the same terms."""
    client = PerMessageDeflate(client_max_window_bits=client_bits, server_max_window_bits=server_bits)
    for server in (DEFAULT, PerMessageDeflate(True, True, 9, 15), PerMessageDeflate(server_max_window_bits=12)):
        accepted = accept_offers([build_offer(client)], server)
        assert accepted is not None
        response, server_view = accepted
        client_view = parse_response(response, client)
        for name in (
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ):
            assert getattr(client_view, name) == getattr(server_view, name), name
        assert client_view.server_max_window_bits <= min(server_bits, server.server_max_window_bits)
        assert client_view.client_max_window_bits <= client_bits


# -- over a connection's handshake ---------------------------------------------------------


def _extensions_of(head: bytes) -> list[str]:
    return [
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-extensions:")
    ]


def _request_with(*extension_headers: bytes) -> bytes:
    lines = [
        b"GET / HTTP/1.1",
        b"Host: example.com",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef"),
        b"Sec-WebSocket-Version: 13",
    ]
    lines += [b"Sec-WebSocket-Extensions: " + value for value in extension_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _response_to(request: bytes, *extension_headers: bytes) -> bytes:
    key = [line for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:")][0]
    accept = accept_key(key.split(b":")[1].strip())
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    lines += [b"Sec-WebSocket-Extensions: " + value for value in extension_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_client_offers_only_when_asked() -> None:
    assert _extensions_of(Connection(ConnectionType.CLIENT).initiate("h", "/")) == []
    request = Connection(ConnectionType.CLIENT, compression=DEFAULT).initiate("h", "/")
    assert _extensions_of(request) == ["permessage-deflate; client_max_window_bits"]


def test_server_accepts_only_when_asked() -> None:
    request = _request_with(b"permessage-deflate; client_max_window_bits")
    declining = Connection(ConnectionType.SERVER)
    declining.receive_data(request)
    assert _extensions_of(declining.accept()) == []
    assert declining.compression is None
    accepting = Connection(ConnectionType.SERVER, compression=PerMessageDeflate(server_max_window_bits=12))
    accepting.receive_data(request)
    assert _extensions_of(accepting.accept()) == ["permessage-deflate; server_max_window_bits=12"]
    assert accepting.compression == PerMessageDeflate(server_max_window_bits=12)


def test_server_reads_offers_across_headers() -> None:
    request = _request_with(
        b"foo, permessage-deflate; bogus", b"permessage-deflate; client_no_context_takeover, permessage-deflate"
    )
    server = Connection(ConnectionType.SERVER, compression=DEFAULT)
    server.receive_data(request)
    assert _extensions_of(server.accept()) == ["permessage-deflate; client_no_context_takeover"]
    assert server.compression == PerMessageDeflate(client_no_context_takeover=True)


def test_server_declines_when_no_offer_is_acceptable() -> None:
    server = Connection(ConnectionType.SERVER, compression=DEFAULT)
    server.receive_data(_request_with(b"permessage-deflate; server_max_window_bits=20"))
    assert _extensions_of(server.accept()) == []
    assert server.compression is None


@pytest.mark.parametrize("compression", [None, DEFAULT])
def test_server_refuses_non_ascii_extension_headers(compression: PerMessageDeflate | None) -> None:
    server = Connection(ConnectionType.SERVER, compression=compression)
    with pytest.raises(HandshakeError) as info:
        server.receive_data(_request_with("permessage-deflate; x=ü".encode()))
    assert "not ASCII" in str(info.value)
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    assert server.closed


@pytest.mark.parametrize(
    "responses",
    [
        # Not what we offered, or not as RFC 7692 allows.
        [b"permessage-deflate; client_max_window_bits"],
        [b"permessage-deflate; server_max_window_bits=7"],
        [b"permessage-deflate; mystery"],
        [b"x-webkit-deflate-frame"],
        # Accepted twice.
        [b"permessage-deflate, permessage-deflate"],
        # Not ASCII.
        ["permessage-deflate; x=ü".encode()],
    ],
)
def test_client_fails_the_handshake_on_a_bad_response(responses: list[bytes]) -> None:
    client = Connection(ConnectionType.CLIENT, compression=DEFAULT)
    response = _response_to(client.initiate("h", "/"), *responses)
    with pytest.raises(HandshakeError):
        client.receive_data(response)
    assert client.closed and client.compression is None


def test_client_without_offer_refuses_an_acceptance() -> None:
    client = Connection(ConnectionType.CLIENT)
    with pytest.raises(HandshakeError):
        client.receive_data(_response_to(client.initiate("h", "/"), b"permessage-deflate"))


def test_client_takes_the_agreement() -> None:
    client = Connection(ConnectionType.CLIENT, compression=PerMessageDeflate(level=1))
    response = _response_to(
        client.initiate("h", "/"), b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover"
    )
    (event,) = client.receive_data(response)
    assert isinstance(event, AcceptConnection)
    assert client.compression == PerMessageDeflate(True, False, 15, 10, 1, 8)
    # The server declined: the connection is uncompressed.
    client = Connection(ConnectionType.CLIENT, compression=DEFAULT)
    client.receive_data(_response_to(client.initiate("h", "/")))
    assert client.state is ConnectionState.OPEN and client.compression is None
