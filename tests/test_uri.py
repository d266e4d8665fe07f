"""Parsing WebSocket URLs."""

from __future__ import annotations

import pytest

from asyncwebsockets.exceptions import InvalidURI
from asyncwebsockets.uri import parse_uri


@pytest.mark.parametrize(
    "url, secure, host, port, resource, host_header",
    [
        ("ws://example.com", False, "example.com", 80, "/", "example.com"),
        ("ws://example.com/", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com/chat", True, "example.com", 443, "/chat", "example.com"),
        ("ws://example.com:8080/a/b?x=1&y=2", False, "example.com", 8080, "/a/b?x=1&y=2", "example.com:8080"),
        ("wss://example.com:443/", True, "example.com", 443, "/", "example.com"),
        ("ws://example.com:443/", False, "example.com", 443, "/", "example.com:443"),
        ("ws://[::1]:9000/path", False, "::1", 9000, "/path", "[::1]:9000"),
        ("ws://[2001:db8::1]/", False, "2001:db8::1", 80, "/", "[2001:db8::1]"),
        ("WS://Example.COM/Path", False, "example.com", 80, "/Path", "example.com"),
        ("ws://example.com/a path/ü?q=a b", False, "example.com", 80, "/a%20path/%C3%BC?q=a%20b", "example.com"),
        ("ws://example.com/already%20quoted", False, "example.com", 80, "/already%20quoted", "example.com"),
        ("ws://example.com?q=1", False, "example.com", 80, "/?q=1", "example.com"),
        ("ws://example.com/p?", False, "example.com", 80, "/p", "example.com"),
        ("WSS://Example.com:8443/x", True, "example.com", 8443, "/x", "example.com:8443"),
        ("wss://[::1]/", True, "::1", 443, "/", "[::1]"),
        ("wss://[::1]:80/", True, "::1", 80, "/", "[::1]:80"),
        ("ws://127.0.0.1:65535/", False, "127.0.0.1", 65535, "/", "127.0.0.1:65535"),
        ("ws://user:pw@example.com:81/", False, "example.com", 81, "/", "example.com:81"),
    ],
)
def test_valid(url: str, secure: bool, host: str, port: int, resource: str, host_header: str) -> None:
    uri = parse_uri(url)
    assert (uri.secure, uri.host, uri.port, uri.resource, uri.host_header) == (
        secure,
        host,
        port,
        resource,
        host_header,
    )


def test_credentials() -> None:
    uri = parse_uri("wss://alice:s%40cret@example.com/")
    assert (uri.username, uri.password) == ("alice", "s@cret")
    assert uri.authorization == "Basic YWxpY2U6c0BjcmV0"
    assert parse_uri("ws://example.com/").authorization is None


def test_credentials_without_password() -> None:
    uri = parse_uri("ws://bob@example.com/")
    assert (uri.username, uri.password) == ("bob", None)
    assert uri.authorization == "Basic Ym9iOg=="  # "bob:"


def test_credentials_never_reach_the_host_header() -> None:
    uri = parse_uri("ws://alice:secret@example.com:8080/")
    assert uri.host_header == "example.com:8080"
    assert "secret" not in uri.resource


def test_invalid_uri_is_a_value_error_not_a_connection_error() -> None:
    assert issubclass(InvalidURI, ValueError)
    assert not issubclass(InvalidURI, ConnectionError)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://example.com",
        "ws://",
        "ws:///x",
        "ws://host/#fragment",
        "ws://host/#",
        "ws://host:0/",
        "ws://host:70000/",
        "ws://host:port/",
        "example.com",
        "",
        "ws://[::1/",
        "ws://:80/",
        "ws://user@/",
        "wss:example.com",
        "file:///etc/passwd",
        "ws://host:-1/",
    ],
)
def test_invalid(url: str) -> None:
    with pytest.raises(InvalidURI):
        parse_uri(url)


def test_not_a_string() -> None:
    with pytest.raises(InvalidURI):
        parse_uri(b"ws://example.com/")  # type: ignore[arg-type]
