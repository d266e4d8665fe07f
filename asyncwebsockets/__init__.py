"""WebSocket client and server for asyncio and trio, on anyio."""

from ._speedups import SPEEDUPS

__version__ = "1.0.0"
__all__ = ["SPEEDUPS"]
