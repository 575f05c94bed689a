"""graph.json read as a stream of node and edge frames, in bounded memory.

Two readers, for two layouts of one format (networkx node-link JSON):

- the pipeline's own (:func:`datapipeline.mentions.graph.render_node_link`): one node or edge
  object per line between fixed lines. Its lines are cut and decoded in blocks, in native
  code (Polars), many lines at a time;
- any other (networkx's ``node_link_data`` dumped on one line, ``links`` for ``edges``, other
  spacing or key order): an incremental JSON parser (ijson, its C backend) hands on events,
  of which the fields of the objects in ``nodes`` and ``edges``/``links`` are kept.

:func:`graph_frames` tries the first and, at the first line that does not fit it, starts over
with the second, which also names the place of a syntax error. Neither builds the document,
nor recurses on nesting: a file of 100,000 nested arrays is one error, not a ``RecursionError``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import polars as pl

from datapipeline.errors import GraphError

#: The fields of a node and of an edge that are kept (others are skipped).
NODE_FIELDS = ("id", "type", "name", "atccode", "source_id", "title", "date", "journal")
EDGE_FIELDS = ("source", "target", "key", "date")
#: Bytes read at once by the line reader; rows per frame of the event reader.
BLOCK_BYTES = 8 * 1024 * 1024
FRAME_ROWS = 200_000
#: A line longer than this is not the pipeline's layout (titles run to a few megabytes).
LONGEST_LINE = 4 * BLOCK_BYTES

_HEADER = re.compile(
    r'\{"directed":(?:true|false),"multigraph":(?:true|false),"graph":(.*),"nodes":\['
)

#: A frame of the graph: ``("nodes", frame of NODE_FIELDS)`` or ``("edges", frame of
#: EDGE_FIELDS)`` (strings; a field a record lacks is null).
Part = tuple[str, pl.DataFrame]


class NotOwnLayout(Exception):
    """The file is not laid out as the pipeline writes it (it may still be valid JSON)."""


def graph_frames(path: Path) -> Iterator[Part]:
    """The nodes and edges of the node-link graph at ``path``, frame by frame, in file order.

    Raises :class:`NotOwnLayout` (before or after yielding frames) when the file is not laid
    out as the pipeline writes it: the caller drops what it got and reads
    :func:`parsed_frames` instead.
    """
    with _opened(path) as handle:
        yield from _own_layout(handle)


def parsed_frames(path: Path) -> Iterator[Part]:
    """The nodes and edges of any node-link JSON document, through an incremental parser.

    A syntax error, a document that is not an object, or ``nodes``/``edges`` that are not
    arrays of objects is a :class:`GraphError` naming the file.
    """
    with _opened(path) as handle:
        try:
            yield from _events(handle, str(path))
        except ijson.JSONError as exc:
            raise GraphError(f"{path}: not a readable JSON graph ({_reason(exc)})") from None
        except UnicodeDecodeError as exc:
            raise GraphError(f"{path}: not a readable JSON graph (not UTF-8: {exc})") from None


def _reason(exc: Exception) -> str:
    """The parser's message on one line, without its picture of where it stopped."""
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split("(right here)")[0].split())[:200]


def _opened(path: Path) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except FileNotFoundError:
        raise GraphError(f"{path}: graph file not found (run `datapipeline run` first)") from None
    except IsADirectoryError:
        raise GraphError(f"{path}: a folder without graph tables or graph.json") from None


# --- the pipeline's layout: one object per line ----------------------------------------------


@dataclass
class _Place:
    """Where the line reader is: in which array; whether at its first line; whether the last
    line read was the last object of its array (no comma), which the closing line must follow.
    """

    section: str = "nodes"
    fresh: bool = True
    closed: bool = False


_CLOSING = {"nodes": b'],"edges":[\n', "edges": b"]}\n"}
_NEXT = {"nodes": "edges", "edges": "done"}
_SCHEMAS = {
    "nodes": dict.fromkeys(NODE_FIELDS, pl.String),
    "edges": dict.fromkeys(EDGE_FIELDS, pl.String),
}


def _own_layout(handle: IO[bytes]) -> Iterator[Part]:
    header = handle.readline(64 * 1024)
    match = _HEADER.fullmatch(header.rstrip(b"\n").decode("utf-8", "replace"))
    if not header.endswith(b"\n") or match is None:
        raise NotOwnLayout
    try:
        if not isinstance(json.loads(match.group(1)), dict):
            raise NotOwnLayout
    except (ValueError, RecursionError):
        raise NotOwnLayout from None
    place = _Place()
    rest = b""
    while True:
        block = handle.read(BLOCK_BYTES)
        data = rest + block
        if block:
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > LONGEST_LINE:
                    raise NotOwnLayout
                rest = data
                continue
            data, rest = data[: cut + 1], data[cut + 1 :]
        elif data and not data.endswith(b"\n"):
            data += b"\n"  # the last line without its newline
        yield from _lines(data, place)
        if not block:
            if place.section != "done":
                raise NotOwnLayout
            return


def _lines(data: bytes, place: _Place) -> Iterator[Part]:
    """Decode ``data`` (whole lines) from ``place``, which they move on."""
    start = 0
    while start < len(data):
        if place.section == "done":
            raise NotOwnLayout  # something after the closing line
        closing = _CLOSING[place.section]
        if data.startswith(closing, start):
            end = start
        else:
            found = data.find(b"\n" + closing, start)
            end = found + 1 if found >= 0 else len(data)
        items = data[start:end]
        if items:
            if place.closed:
                raise NotOwnLayout  # an object after the last one
            if place.fresh and items == b"\n":
                place.closed = True  # an empty array: its brackets on two lines
            else:
                frame, place.closed = _decoded(items, place.section)
                yield place.section, frame
            place.fresh = False
        if end == len(data):
            return
        if not place.closed:
            raise NotOwnLayout  # the last object before the closing line ends with a comma
        place.section, place.fresh, place.closed = _NEXT[place.section], True, False
        start = end + len(closing)


def _decoded(items: bytes, section: str) -> tuple[pl.DataFrame, bool]:
    """The objects on ``items``, whole lines each ``{…},`` but maybe the last ``{…}`` (the
    last of its array); and whether that last one is. Newlines inside JSON strings are
    escaped, so a newline in the bytes always ends a line."""
    lines = items.count(b"\n")
    closed = not items.endswith(b"},\n")
    if closed and not items.endswith(b"}\n"):
        raise NotOwnLayout
    starts = items.startswith(b"{") + items.count(b"\n{") - items.endswith(b"\n{")
    if items.count(b"},\n") != lines - closed or starts != lines:
        raise NotOwnLayout  # a line that is not one object and its comma
    try:
        frame = pl.read_ndjson(io.BytesIO(items.replace(b"},\n", b"}\n")), schema=_SCHEMAS[section])
    except pl.exceptions.PolarsError:
        raise NotOwnLayout from None
    if frame.height != lines:
        raise NotOwnLayout
    return frame, closed


# --- any layout: an incremental parser ----------------------------------------------------------

_ARRAYS = ("nodes", "edges", "links")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _events(handle: IO[bytes], origin: str) -> Iterator[Part]:
    """Frames of the objects of the top-level arrays ``nodes`` and ``edges`` (or ``links``).

    Only the depth is tracked below the fields of those objects (no path is built, so that
    100,000 nested arrays cost 100,000 steps, not 100,000 paths of up to 100,000 names).
    """
    fields = {"nodes": NODE_FIELDS, "edges": EDGE_FIELDS, "links": EDGE_FIELDS}
    rows: dict[str, list[dict[str, str | None]]] = {name: [] for name in _ARRAYS}
    counts = dict.fromkeys(_ARRAYS, 0)
    seen: set[str] = set()
    depth = 0
    key: str | None = None  # the top-level key being read
    array: str | None = None  # the array of records being read
    field: str | None = None  # the field of the record being read
    record: dict[str, str | None] = {}
    started = False
    for event, value in ijson.basic_parse(handle, use_float=True):
        started = True
        if event == "start_map" or event == "start_array":
            if depth == 0 and event != "start_map":
                raise GraphError(f"{origin}: not a drug-mention graph (expected a JSON object)")
            if depth == 1 and key in fields:
                if event != "start_array":
                    raise GraphError(f"{origin}: {key!r}: expected an array of objects")
                array = key
                seen.add(array)
            elif depth == 2 and array is not None:
                if event != "start_map":
                    raise GraphError(f"{origin}: {array}[{counts[array]}]: expected an object")
                record = {}
            elif depth == 3 and array is not None and field in fields[array]:
                kind = "an object" if event == "start_map" else "an array"
                raise GraphError(
                    f"{origin}: {array}[{counts[array]}].{field}: expected a string, not {kind}"
                )
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if depth == 2 and array is not None:
                rows[array].append(record)
                counts[array] += 1
                if len(rows[array]) >= FRAME_ROWS:
                    yield _frame(array, rows[array])
                    rows[array] = []
            elif depth == 1:
                array = None
        elif event == "map_key":
            if depth == 1:
                key = value
            elif depth == 3:
                field = value
        elif depth == 0:
            raise GraphError(f"{origin}: not a drug-mention graph (expected a JSON object)")
        elif depth == 1 and key in fields:
            raise GraphError(f"{origin}: {key!r}: expected an array of objects")
        elif depth == 2 and array is not None:
            raise GraphError(f"{origin}: {array}[{counts[array]}]: expected an object")
        elif depth == 3 and array is not None and field in fields[array]:
            record[field] = _text(value)
    if not started:
        raise GraphError(f"{origin}: empty file: not a drug-mention graph")
    for name in _ARRAYS:
        if rows[name]:
            yield _frame(name, rows[name])
    if "nodes" not in seen:
        raise GraphError(f"{origin}: not a drug-mention graph in node-link form (no 'nodes')")
    if "edges" not in seen and "links" not in seen:
        raise GraphError(f"{origin}: not a drug-mention graph in node-link form (no 'edges')")
    if "edges" in seen and "links" in seen:
        yield "drop links", pl.DataFrame()


def _frame(array: str, rows: list[dict[str, str | None]]) -> Part:
    names = NODE_FIELDS if array == "nodes" else EDGE_FIELDS
    columns = {f: [r.get(f) for r in rows] for f in names}
    return array, pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))


def document_parts(array: str, objects: list[Any]) -> Iterator[Part]:
    """Frames of the ``nodes`` or ``edges`` objects of a document already in memory."""
    for start in range(0, len(objects), FRAME_ROWS):
        rows = [{k: _text(v) for k, v in o.items()} for o in objects[start : start + FRAME_ROWS]]
        yield _frame(array, rows)
