"""The documentation's benchmark tables render what the result files hold.

``docs/_ext/benchtables.py`` turns the JSON that ``bench/*.py --json``
writes into tables; the target table must call a goal met or missed exactly
as the numbers say, and files of the older layout (results only) must
still render.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


benchtables = load(ROOT / "docs" / "_ext" / "benchtables.py", "benchtables_under_test")

ECHO = {
    "pipelined, 1 conn, 32 B": {
        "ours-asyncio": {"msgs_per_s": 500000.0, "p50_us": None, "client_cpu_us": 1.5, "server_cpu_us": 1.25},
        "aiohttp": {"msgs_per_s": 100000.0, "p50_us": None, "client_cpu_us": 5.0, "server_cpu_us": 4.0},
    },
    "latency, 1 conn, 32 B": {
        "ours-asyncio": {"msgs_per_s": 20000.0, "p50_us": 48.7, "client_cpu_us": 20.0, "server_cpu_us": 18.0}
    },
}


def test_echo_tables_read_both_layouts() -> None:
    for data in (ECHO, {"results": ECHO, "targets": []}):
        header, body = benchtables.echo_throughput(data)
        assert header == ["case", "ours-asyncio", "aiohttp"]
        assert body[0] == ["pipelined, 1 conn, 32 B", "500,000", "100,000"]
        assert body[1] == ["latency, 1 conn, 32 B", "20,000 (49 µs)", "n/a"]
        assert benchtables.echo_cpu(data)[1][0][1:] == ["1.50 / 1.25", "5.00 / 4.00"]


def test_targets_verdicts() -> None:
    data = {
        "targets": [
            {"target": "a / b", "measured": 2.5, "required": 2.0},
            {"target": "c / d", "measured": 0.9, "required": 1.0},
            {"target": "exactly", "measured": 1.0, "required": 1.0},
            {"target": "not measured", "measured": None, "required": 3.0},
            {"target": "memory", "measured": 10.1, "required": 20.0, "at_most": True},
            {"target": "memory, too much", "measured": 20.5, "required": 20.0, "at_most": True},
        ]
    }
    header, body = benchtables.targets(data)
    assert header == ["target", "measured", "required", "verdict"]
    assert body == [
        ["a / b", "2.50x", ">= 2.00x", "met"],
        ["c / d", "0.90x", ">= 1.00x", "missed"],
        ["exactly", "1.00x", ">= 1.00x", "met"],
        ["not measured", "n/a", ">= 3.00x", "n/a"],
        ["memory", "10.10", "<= 20.00", "met"],
        ["memory, too much", "20.50", "<= 20.00", "missed"],
    ]


def test_targets_missing_is_a_key_error() -> None:
    # The directive turns KeyError into a note naming the command to run.
    for data in (ECHO, {"targets": []}, [], None):
        with pytest.raises(KeyError):
            benchtables.targets(data)


def test_echo_targets_compare_the_right_libraries() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        echo = load(ROOT / "bench" / "echo.py", "echo_bench_under_test")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    results = {
        "pipelined, 1 conn, 32 B": {
            "ours-asyncio": {"msgs_per_s": 300.0, "p50_us": None},
            "aiohttp": {"msgs_per_s": 200.0, "p50_us": None},
            "picows": {"msgs_per_s": 400.0, "p50_us": None},
            "original-0.x": {"msgs_per_s": 30.0, "p50_us": None},
        },
        "latency, 1 conn, 32 B": {
            "ours-asyncio": {"msgs_per_s": 100.0, "p50_us": 50.0},
            "aiohttp": {"msgs_per_s": 90.0, "p50_us": 60.0},
        },
        "pipelined, 50 conn, 64 KiB": {
            "ours-asyncio": {"msgs_per_s": 120.0, "p50_us": None},
            "aiohttp": {"msgs_per_s": 80.0, "p50_us": None},
            "websockets": {"msgs_per_s": 100.0, "p50_us": None},
            "ours-trio": {"msgs_per_s": 999.0, "p50_us": None},
        },
        "latency, 50 conn, 1 KiB": {
            "ours-asyncio": {"msgs_per_s": 90.0, "p50_us": 50.0},
            "picows": {"msgs_per_s": 100.0, "p50_us": 40.0},
        },
    }
    goals = {description: (measured, required) for description, measured, required in echo.targets(results)}
    assert goals["pipelined, 1 conn, 32 B: ours-asyncio / aiohttp"] == (1.5, 1.0)
    assert goals["pipelined, 1 conn, 32 B: ours-asyncio / picows"] == (0.75, 1.8)
    assert goals["latency, 1 conn, 32 B: ours-asyncio / picows"] == (None, 1.0)
    # Large messages with many connections: against the fastest asyncio peer of the run.
    assert goals["pipelined, 50 conn, 64 KiB: ours-asyncio / websockets (best asyncio peer)"] == (1.2, 1.2)
    assert goals["latency, 50 conn, 1 KiB: ours-asyncio / picows"] == (0.9, 1.0)
    assert goals["pipelined, 1 conn, 32 B: ours-asyncio / original-0.x"] == (10.0, 1.0)
    assert goals["pipelined, 1 conn, 32 B: ours-trio / trio-websocket"] == (None, 3.0)
    assert goals["latency, 1 conn, 32 B: aiohttp p50 / ours-asyncio p50"] == (1.2, 1.0)
