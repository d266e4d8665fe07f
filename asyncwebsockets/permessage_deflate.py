"""Negotiating permessage-deflate (RFC 7692): offers, responses, parameters.

This module only decides what both sides agree on; compressing and
decompressing messages is :mod:`asyncwebsockets.deflate`'s job.  The same
:class:`PerMessageDeflate` class describes what one side is willing to do
(the ``compression`` option) and, once the handshake is over, what was agreed
(:attr:`Websocket.compression <asyncwebsockets.websocket.Websocket.compression>`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "EXTENSION_NAME",
    "NegotiationError",
    "PerMessageDeflate",
    "accept_offers",
    "build_offer",
    "check_compression",
    "parse_response",
]

EXTENSION_NAME = "permessage-deflate"

MIN_WINDOW_BITS = 8
MAX_WINDOW_BITS = 15

_SERVER_NO_CONTEXT = "server_no_context_takeover"
_CLIENT_NO_CONTEXT = "client_no_context_takeover"
_SERVER_WINDOW = "server_max_window_bits"
_CLIENT_WINDOW = "client_max_window_bits"
_KNOWN = (_SERVER_NO_CONTEXT, _CLIENT_NO_CONTEXT, _SERVER_WINDOW, _CLIENT_WINDOW)

#: An RFC 7230 token (the names of extensions and of their parameters).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A window size in an offer or response: 1*DIGIT without a leading zero
#: (RFC 7692 section 7.1.2), in the range 8-15.
_WINDOW_VALUE = re.compile(r"(8|9|1[0-5])")


class NegotiationError(ValueError):
    """An offer or response that breaks RFC 7692's rules for its parameters."""


@dataclass(frozen=True)
class PerMessageDeflate:
    """Settings of the permessage-deflate extension (RFC 7692).

    As the ``compression`` option it says what this side accepts: a client
    offers these parameters, a server asks for at least them in its answer.
    As :attr:`Websocket.compression` it is what the handshake agreed on.

    ``server_no_context_takeover`` / ``client_no_context_takeover``: that
    side starts every message with an empty compression window; its
    compressor need not be kept between messages, at a cost in ratio.
    ``server_max_window_bits`` / ``client_max_window_bits`` (8-15): the
    LZ77 window that side's compressor may use, 2**bits bytes; smaller
    windows save memory on both ends, again at a cost in ratio.  zlib cannot
    make raw deflate streams with an 8-bit window, so 8 is compressed and
    decompressed with 9: zlib never refers back further than 250 bytes with
    a 9-bit window, so the stream still fits a peer's 256-byte window.

    ``level`` (0-9) and ``memory_level`` (1-9) are handed to
    :func:`zlib.compressobj` for our own compressor and never sent.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = MAX_WINDOW_BITS
    client_max_window_bits: int = MAX_WINDOW_BITS
    level: int = 6
    memory_level: int = 8

    def __post_init__(self) -> None:
        for name in (_SERVER_WINDOW, _CLIENT_WINDOW):
            bits = getattr(self, name)
            if type(bits) is not int or not MIN_WINDOW_BITS <= bits <= MAX_WINDOW_BITS:
                raise ValueError(f"{name} must be an int from 8 to 15, not {bits!r}")
        if type(self.level) is not int or not (0 <= self.level <= 9 or self.level == zlib.Z_DEFAULT_COMPRESSION):
            raise ValueError(f"level must be an int from 0 to 9 (or -1), not {self.level!r}")
        if type(self.memory_level) is not int or not 1 <= self.memory_level <= 9:
            raise ValueError(f"memory_level must be an int from 1 to 9, not {self.memory_level!r}")


Compression = None | str | PerMessageDeflate


def check_compression(compression: Compression) -> PerMessageDeflate | None:
    """The settings for a ``compression`` option: None, ``"deflate"`` or a :class:`PerMessageDeflate`."""
    if compression is None or isinstance(compression, PerMessageDeflate):
        return compression
    if compression == "deflate":
        return PerMessageDeflate()
    raise ValueError(f"unsupported compression {compression!r}; use None, 'deflate' or PerMessageDeflate(...)")


# -- parsing ------------------------------------------------------------------


def _parse_extension(text: str) -> tuple[str, list[tuple[str, str | None]]]:
    """Split one element of ``Sec-WebSocket-Extensions`` into its name and parameters.

    Raises :class:`NegotiationError` when it is not the header's grammar
    (RFC 6455 section 9.1): names are tokens, values tokens or quoted strings.
    """
    name, *raw_params = [part.strip() for part in text.split(";")]
    if not _TOKEN.fullmatch(name):
        raise NegotiationError(f"invalid extension name {name!r}")
    params: list[tuple[str, str | None]] = []
    for raw in raw_params:
        key, equals, value = (part.strip() for part in raw.partition("="))
        if not _TOKEN.fullmatch(key):
            raise NegotiationError(f"invalid extension parameter {raw!r}")
        if not equals:
            params.append((key, None))
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            # A quoted string must still hold a token (RFC 6455 section 9.1).
            value = value[1:-1]
        if not _TOKEN.fullmatch(value):
            raise NegotiationError(f"invalid value in extension parameter {raw!r}")
        params.append((key, value))
    return name, params


def _deflate_params(params: Sequence[tuple[str, str | None]]) -> dict[str, int | None]:
    """Check permessage-deflate's parameters (RFC 7692 section 7); window sizes become ints.

    Unknown or repeated parameters, a value where none belongs, a window
    size missing or outside 8-15: all make the element invalid.
    """
    out: dict[str, int | None] = {}
    for key, value in params:
        if key not in _KNOWN:
            raise NegotiationError(f"unknown parameter {key}")
        if key in out:
            raise NegotiationError(f"repeated parameter {key}")
        if key in (_SERVER_NO_CONTEXT, _CLIENT_NO_CONTEXT):
            if value is not None:
                raise NegotiationError(f"{key} takes no value")
            out[key] = None
        elif value is None:
            # client_max_window_bits alone: "I can work with a limit you set".
            if key == _SERVER_WINDOW:
                raise NegotiationError(f"{key} needs a value")
            out[key] = None
        elif _WINDOW_VALUE.fullmatch(value):
            out[key] = int(value)
        else:
            raise NegotiationError(f"invalid {key} value {value!r}")
    return out


def _format(params: Sequence[tuple[str, int | None]]) -> str:
    parts = [EXTENSION_NAME]
    parts += [key if value is None else f"{key}={value}" for key, value in params]
    return "; ".join(parts)


# -- the client's side ------------------------------------------------------------


def build_offer(settings: PerMessageDeflate) -> str:
    """The offer a client sends, e.g. ``permessage-deflate; client_max_window_bits``.

    ``client_max_window_bits`` is always there, with no value when we could
    use any window: it tells the server it may ask for a smaller one.
    """
    params: list[tuple[str, int | None]] = []
    if settings.server_no_context_takeover:
        params.append((_SERVER_NO_CONTEXT, None))
    if settings.client_no_context_takeover:
        params.append((_CLIENT_NO_CONTEXT, None))
    if settings.server_max_window_bits < MAX_WINDOW_BITS:
        params.append((_SERVER_WINDOW, settings.server_max_window_bits))
    client_bits = settings.client_max_window_bits
    params.append((_CLIENT_WINDOW, None if client_bits == MAX_WINDOW_BITS else client_bits))
    return _format(params)


def parse_response(response: str, offered: PerMessageDeflate) -> PerMessageDeflate:
    """What a server's acceptance of our offer agrees to; :class:`NegotiationError` if it may not.

    RFC 7692 section 7.1: the server may restrict its own window or context
    takeover freely, and ours only as far as our offer let it.
    """
    name, raw = _parse_extension(response)
    if name != EXTENSION_NAME:
        raise NegotiationError(f"unexpected extension {name}")
    params = _deflate_params(raw)
    if offered.server_no_context_takeover and _SERVER_NO_CONTEXT not in params:
        raise NegotiationError("server_no_context_takeover was asked for and not accepted")
    server_bits = params.get(_SERVER_WINDOW)
    if server_bits is None:
        if offered.server_max_window_bits < MAX_WINDOW_BITS:
            raise NegotiationError("server_max_window_bits was asked for and not accepted")
        server_bits = MAX_WINDOW_BITS
    elif server_bits > offered.server_max_window_bits:
        raise NegotiationError(
            f"server_max_window_bits={server_bits} exceeds the {offered.server_max_window_bits} offered"
        )
    client_bits = offered.client_max_window_bits
    if _CLIENT_WINDOW in params:
        bits = params[_CLIENT_WINDOW]
        if bits is None:
            raise NegotiationError("client_max_window_bits needs a value in a response")
        if bits > client_bits:
            raise NegotiationError(f"client_max_window_bits={bits} exceeds the {client_bits} offered")
        client_bits = bits
    return replace(
        offered,
        server_no_context_takeover=_SERVER_NO_CONTEXT in params,
        client_no_context_takeover=offered.client_no_context_takeover or _CLIENT_NO_CONTEXT in params,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


# -- the server's side ------------------------------------------------------------


def _accept_one(params: dict[str, int | None], settings: PerMessageDeflate) -> tuple[str, PerMessageDeflate]:
    """Our response to one valid offer and what it agrees to; NegotiationError to decline it."""
    response: list[tuple[str, int | None]] = []
    server_no_context = settings.server_no_context_takeover or _SERVER_NO_CONTEXT in params
    if server_no_context:
        response.append((_SERVER_NO_CONTEXT, None))
    # The client keeps its own context or not; saying so only tells it the
    # server will not rely on it.  We ask for it when configured to.
    client_no_context = settings.client_no_context_takeover or _CLIENT_NO_CONTEXT in params
    if client_no_context:
        response.append((_CLIENT_NO_CONTEXT, None))
    server_bits = settings.server_max_window_bits
    offered_server_bits = params.get(_SERVER_WINDOW)
    if offered_server_bits is not None:
        server_bits = min(server_bits, offered_server_bits)
    # An offered server_max_window_bits is accepted by answering it
    # (RFC 7692 section 7.1.2.1); a limit of our own may be stated anyway.
    if offered_server_bits is not None or server_bits < MAX_WINDOW_BITS:
        response.append((_SERVER_WINDOW, server_bits))
    client_bits = settings.client_max_window_bits
    if _CLIENT_WINDOW in params:
        offered_client_bits = params[_CLIENT_WINDOW]
        if offered_client_bits is not None:
            client_bits = min(client_bits, offered_client_bits)
        if offered_client_bits is not None or client_bits < MAX_WINDOW_BITS:
            response.append((_CLIENT_WINDOW, client_bits))
    elif client_bits < MAX_WINDOW_BITS:
        # A client that did not offer client_max_window_bits may use a
        # window of 15 bits, more than we were told to decompress with.
        raise NegotiationError("the offer does not let us limit the client's window")
    agreed = replace(
        settings,
        server_no_context_takeover=server_no_context,
        client_no_context_takeover=client_no_context,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )
    return _format(response), agreed


def accept_offers(offers: Sequence[str], settings: PerMessageDeflate) -> tuple[str, PerMessageDeflate] | None:
    """The response to the first acceptable permessage-deflate offer, and what it agrees to.

    ``offers`` are the elements of the request's ``Sec-WebSocket-Extensions``
    headers, in order.  Offers of other extensions are skipped; invalid
    offers of ours are declined (RFC 7692 section 5: the server declines,
    rather than fails, an offer it does not accept).  None when no offer is
    acceptable: the connection goes on uncompressed.
    """
    for offer in offers:
        try:
            name, raw = _parse_extension(offer)
            if name != EXTENSION_NAME:
                continue
            return _accept_one(_deflate_params(raw), settings)
        except NegotiationError:
            continue
    return None
