"""Chooses the compiled codec or its pure-Python twin, once, at import.

The compiled modules (``csrc/*.pyx``) are used when they import; setting
``ASYNCWEBSOCKETS_NO_EXTENSIONS=1`` forces the twins.  Every other module gets
the codec from here, by attribute (``_speedups.FrameReader``), so tests can
switch implementations with :func:`use`.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _frame_writer_py, _frames_py, _mask_py, _messages_py, _utf8_py

PURE: dict[str, ModuleType] = {
    "mask": _mask_py,
    "utf8": _utf8_py,
    "messages": _messages_py,
    "frames": _frames_py,
    "frame_writer": _frame_writer_py,
}


def _load_compiled() -> dict[str, ModuleType] | None:
    if os.environ.get("ASYNCWEBSOCKETS_NO_EXTENSIONS", "") not in ("", "0"):
        return None
    try:
        from . import _frame_writer, _frames, _mask, _messages, _utf8  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return {"mask": _mask, "utf8": _utf8, "messages": _messages, "frames": _frames, "frame_writer": _frame_writer}


COMPILED = _load_compiled()
SPEEDUPS = COMPILED is not None

# Type checkers see the twins' signatures; the compiled modules match them.
apply_mask = _mask_py.apply_mask
apply_mask_inplace = _mask_py.apply_mask_inplace
is_utf8 = _utf8_py.is_utf8
Utf8Validator = _utf8_py.Utf8Validator
FrameReader = _frames_py.FrameReader
FrameWriter = _frame_writer_py.FrameWriter


def use(modules: dict[str, ModuleType]) -> None:
    """Make ``modules`` (:data:`PURE` or :data:`COMPILED`) the active codec."""
    global apply_mask, apply_mask_inplace, is_utf8, Utf8Validator
    global FrameReader, FrameWriter
    apply_mask = modules["mask"].apply_mask
    apply_mask_inplace = modules["mask"].apply_mask_inplace
    is_utf8 = modules["utf8"].is_utf8
    Utf8Validator = modules["utf8"].Utf8Validator
    FrameReader = modules["frames"].FrameReader
    FrameWriter = modules["frame_writer"].FrameWriter


use(COMPILED if COMPILED is not None else PURE)
