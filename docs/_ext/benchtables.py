"""Render benchmark results from the JSON files the ``bench/`` scripts write.

``.. bench-table:: echo-throughput`` reads ``docs/_bench/echo.json`` (written
by ``python bench/echo.py --json docs/_bench/echo.json``) and renders it as a
table, so the numbers in the documentation are exactly what a benchmark run
produced.  ``.. bench-image:: echo.png`` shows ``docs/_static/echo.png``
(drawn by ``bench/plot.py``).

Results are regenerated now and then, and their layout may grow: nothing
here may break the build.  A missing or unreadable file, or a file without
the entry a table needs, renders as a note saying which command makes it;
a missing value inside a table renders as "n/a".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

DOCS = Path(__file__).resolve().parent.parent
RESULTS = DOCS / "_bench"
STATIC = DOCS / "_static"

Table = tuple[list[str], list[list[str]]]

MISSING = "n/a"


def _number(value: Any, scale: float = 1.0) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return MISSING
    value = value / scale
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _section(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` as a mapping of rows; KeyError names what is missing."""
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, dict) or not section:
        raise KeyError(key)
    return section


def _grid(rows: dict[str, Any], first: str, cell: Callable[[Any], str]) -> Table:
    """One row per key of ``rows``, one column per key found in any row."""
    columns: list[str] = []
    for row in rows.values():
        for name in row if isinstance(row, dict) else ():
            if name not in columns:
                columns.append(name)
    body = []
    for case, row in rows.items():
        row = row if isinstance(row, dict) else {}
        body.append([case] + [cell(row[name]) if name in row else MISSING for name in columns])
    return [first] + columns, body


def codec_mask(data: Any) -> Table:
    return _grid(_section(data, "mask_GBps"), "size", _number)


def codec_parse(data: Any) -> Table:
    return _grid(_section(data, "parse_msgs_per_s"), "case", lambda v: _number(v, 1000))


def codec_serialize(data: Any) -> Table:
    return _grid(_section(data, "serialize_per_s"), "frame", lambda v: _number(v, 1000))


def _field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, dict) else None


def _echo_cell(result: Any) -> str:
    text = _number(_field(result, "msgs_per_s"))
    p50 = _field(result, "p50_us")
    if isinstance(p50, (int, float)):
        text += f" ({p50:.0f} µs)"
    return text


def _cpu_cell(result: Any) -> str:
    client, server = _field(result, "client_cpu_us"), _field(result, "server_cpu_us")
    if client is None and server is None:
        return MISSING
    return f"{_number(client)} / {_number(server)}"


def _results(data: Any) -> Any:
    """The results of an echo or memory file (older files held nothing else)."""
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        return data["results"]
    return data


def echo_throughput(data: Any) -> Table:
    return _grid(_section({"echo": _results(data)}, "echo"), "case", _echo_cell)


def echo_cpu(data: Any) -> Table:
    return _grid(_section({"echo": _results(data)}, "echo"), "case", _cpu_cell)


def targets(data: Any) -> Table:
    """The goals a benchmark checks: measured against required, and the verdict."""
    goals = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(goals, list) or not goals:
        raise KeyError("targets")
    body = []
    for goal in goals:
        goal = goal if isinstance(goal, dict) else {}
        measured, required = goal.get("measured"), goal.get("required")
        at_most = bool(goal.get("at_most"))
        unit = "" if at_most else "x"
        if isinstance(measured, (int, float)) and isinstance(required, (int, float)):
            met = measured <= required if at_most else measured >= required
            verdict = "met" if met else "missed"
            shown = f"{measured:.2f}{unit}"
        else:
            verdict, shown = MISSING, MISSING
        bound = "<=" if at_most else ">="
        wanted = f"{bound} {required:.2f}{unit}" if isinstance(required, (int, float)) else MISSING
        body.append([str(goal.get("target", MISSING)), shown, wanted, verdict])
    return ["target", "measured", "required", "verdict"], body


def memory(data: Any) -> Table:
    rows = _section({"memory": _results(data)}, "memory")
    header = ["library", "KiB per idle connection", "peak RSS echoing 1 MiB (MiB)"]
    body = [
        [lib, _number(_field(r, "per_idle_connection_kib")), _number(_field(r, "peak_rss_echoing_1mib_kib"), 1024)]
        for lib, r in rows.items()
    ]
    return header, body


CODEC = ("codec.json", "python bench/codec.py --json docs/_bench/codec.json")
ECHO = ("echo.json", "python bench/echo.py --json docs/_bench/echo.json")
MEMORY = ("memory.json", "python bench/memory.py --json docs/_bench/memory.json")

KINDS: dict[str, tuple[tuple[str, str], Callable[[Any], Table]]] = {
    "codec-mask": (CODEC, codec_mask),
    "codec-parse": (CODEC, codec_parse),
    "codec-serialize": (CODEC, codec_serialize),
    "echo-throughput": (ECHO, echo_throughput),
    "echo-cpu": (ECHO, echo_cpu),
    "memory": (MEMORY, memory),
    "codec-targets": (CODEC, targets),
    "echo-targets": (ECHO, targets),
    "memory-targets": (MEMORY, targets),
}


def _note(text: str) -> list[nodes.Node]:
    return [nodes.note("", nodes.paragraph(text=text))]


class BenchTable(Directive):
    """``.. bench-table:: KIND``: a table from one of the result files."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        if kind not in KINDS:
            raise self.error(f"unknown bench-table kind {kind!r}; one of {', '.join(KINDS)}")
        (filename, command), render = KINDS[kind]
        path = RESULTS / filename
        self.state.document.settings.env.note_dependency(str(path))
        if not path.is_file():
            return _note(f"No results recorded yet: run {command}")
        try:
            header, body = render(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # unreadable, or not JSON
            return _note(f"docs/_bench/{filename} could not be read ({exc}): run {command}")
        except KeyError as exc:
            return _note(f"docs/_bench/{filename} has no {exc} results: run {command}")
        return [_table(header, body)]


def _table(header: list[str], body: list[list[str]]) -> nodes.table:
    """A plain table node: cell text is never parsed as markup."""
    table = nodes.table(classes=["bench-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for column in range(len(header)):
        width = max(len(str(values[column])) for values in [header] + body)
        group += nodes.colspec(colwidth=max(width, 3))
    for section, rows in ((nodes.thead(), [header]), (nodes.tbody(), body)):
        for values in rows:
            row = nodes.row()
            for value in values:
                row += nodes.entry("", nodes.paragraph(text=str(value)))
            section += row
        group += section
    return table


class BenchImage(Directive):
    """``.. bench-image:: NAME``: ``docs/_static/NAME`` if it was drawn, else a note."""

    required_arguments = 1
    has_content = False
    option_spec = {"alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        path = STATIC / name
        self.state.document.settings.env.note_dependency(str(path))
        if not path.is_file():
            return _note(f"No chart drawn yet: run python bench/plot.py docs/_bench/echo.json docs/_static/{name}")
        lines = [f".. image:: /_static/{name}"]
        if "alt" in self.options:
            lines.append(f"   :alt: {self.options['alt']}")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=str(path)), self.content_offset, container)
        return container.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("bench-table", BenchTable)
    app.add_directive("bench-image", BenchImage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
