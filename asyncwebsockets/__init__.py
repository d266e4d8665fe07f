"""WebSocket client and server for asyncio and trio, built on anyio.

Events are :mod:`wsproto.events` objects; the frame codec is compiled
(``SPEEDUPS`` is True) unless no compiled module could be built or
``ASYNCWEBSOCKETS_NO_EXTENSIONS=1`` is set.
"""

from . import exceptions
from ._speedups import SPEEDUPS
from .client import create_websocket, create_websocket_client, open_websocket, open_websocket_client
from .exceptions import *  # noqa: F403 - everything in exceptions.__all__
from .hooks import HTTPRequest, Response, basic_auth, check_origin
from .options import ConnectionOptions
from .permessage_deflate import PerMessageDeflate
from .protocol import CloseCode
from .reconnect import connect
from .server import (
    Reject,
    WebSocketServer,
    create_websocket_server,
    open_websocket_server,
    serve,
    serve_listener,
)
from .version import __version__
from .websocket import Websocket

__all__ = [
    "__version__",
    "SPEEDUPS",
    "Websocket",
    "open_websocket",
    "create_websocket",
    "connect",
    "open_websocket_client",
    "create_websocket_client",
    "open_websocket_server",
    "create_websocket_server",
    "serve",
    "serve_listener",
    "WebSocketServer",
    "Reject",
    "HTTPRequest",
    "Response",
    "check_origin",
    "basic_auth",
    "ConnectionOptions",
    "PerMessageDeflate",
    "CloseCode",
]
# The exceptions, as listed once in their module.
__all__ += exceptions.__all__
