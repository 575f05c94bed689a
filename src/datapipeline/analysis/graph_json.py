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
BLOCK_BYTES = 32 * 1024 * 1024
FRAME_ROWS = 200_000
#: A line longer than this is not the pipeline's layout (titles run to a few megabytes).
LONGEST_LINE = 4 * BLOCK_BYTES

_HEADER = re.compile(
    r'\{"directed":(?:true|false),"multigraph":(?:true|false),"graph":(.*),"nodes":\['
)
_NODES_END = '],"edges":['
_EDGES_END = "]}"
_NODE_TYPE = pl.Struct({f: pl.String for f in NODE_FIELDS})
_EDGE_TYPE = pl.Struct({f: pl.String for f in EDGE_FIELDS})

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
    """Where the line reader is: in which array, and whether at its first line."""

    section: str = "nodes"
    fresh: bool = True


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
        next_line = None
        if block:
            # the last whole line waits for the next block: whether it may end with a comma
            # depends on the line after it
            cut = data.rfind(b"\n", 0, max(data.rfind(b"\n"), 0))
            if cut < 0:
                if len(data) > LONGEST_LINE:
                    raise NotOwnLayout
                rest = data
                continue
            data, rest = data[: cut + 1], data[cut + 1 :]
            next_line = rest.split(b"\n", 1)[0].decode("utf-8", "replace")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NotOwnLayout from None
        lines = pl.Series("line", [text]).str.split("\n").explode()
        if block:
            lines = lines.slice(0, lines.len() - 1)  # the empty piece after the last newline
        yield from _lines(lines, place, next_line, final=not block)
        if not block:
            return


def _lines(lines: pl.Series, place: _Place, next_line: str | None, final: bool) -> Iterator[Part]:
    """Decode ``lines`` (a run of whole lines) from ``place``, which they move on."""
    start, count = 0, lines.len()
    while start < count:
        if place.section == "done":
            # only the newline after the closing line
            if not final or lines.slice(start).to_list() != [""]:
                raise NotOwnLayout
            return
        closing = _NODES_END if place.section == "nodes" else _EDGES_END
        hits = (lines.slice(start) == closing).arg_true()
        end = start + int(hits[0]) if hits.len() else count
        items = lines.slice(start, end - start)
        closed = end < count or next_line == closing
        if place.fresh and closed and items.to_list() == [""]:
            items = items.clear()  # an empty array: its brackets on two lines
        place.fresh = False
        if items.len():
            yield place.section, _decoded(items, place.section, last=closed)
        if end == count:
            break
        place.section, place.fresh = ("edges" if place.section == "nodes" else "done"), True
        start = end + 1
    if final and place.section != "done":
        raise NotOwnLayout


def _decoded(items: pl.Series, section: str, last: bool) -> pl.DataFrame:
    """The objects on ``items`` (each ``{…},``; the very last of its array, ``{…}``)."""
    count = items.len()
    body = items.slice(0, count - 1) if last else items
    shaped = body.str.starts_with("{") & body.str.ends_with("},")
    if last:
        final = items[count - 1]
        if not (final.startswith("{") and final.endswith("}")):
            raise NotOwnLayout
    if not shaped.all():
        raise NotOwnLayout
    dtype = _NODE_TYPE if section == "nodes" else _EDGE_TYPE
    try:
        decoded = items.str.strip_suffix(",").str.json_decode(dtype)
    except pl.exceptions.PolarsError:
        raise NotOwnLayout from None
    if decoded.len() != count or decoded.null_count():
        raise NotOwnLayout
    return decoded.struct.unnest()


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
