"""A drug-mention graph as two SQL tables, ``graph_nodes`` and ``graph_edges``, in DuckDB.

The ad-hoc questions are the shipped SQL files (``sql_queries/top_journals.sql``,
``related_drugs.sql``), run here on DuckDB and in the warehouse on its engine: one statement
of each question. :func:`open_graph` finds the tables for a path:

- the Parquet tables the pipeline writes beside ``graph.json`` (when their footer names that
  very file, see :class:`JsonFingerprint`), or in a folder given (beside a graph.json, or a
  lake's ``graph_nodes/`` and ``graph_edges/`` tables): read in place, the columns a query
  needs, and only the row groups it needs;
- else graph.json itself, streamed (:mod:`datapipeline.analysis.graph_json`) into DuckDB
  tables (in memory up to :data:`JSON_MEMORY_LIMIT`, spilled to a temporary folder past
  it), then checked as the in-memory reader checked it (every
  edge's target is a node, no node id twice), since nothing vouches for its content.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

import duckdb
import polars as pl
import pyarrow.parquet as pq

from datapipeline.analysis.graph_json import (
    EDGE_FIELDS,
    NODE_FIELDS,
    NotOwnLayout,
    Part,
    graph_frames,
    parsed_frames,
)
from datapipeline.errors import GraphError
from datapipeline.mentions.matching import normalize_for_matching
from datapipeline.mentions.parquet_graph import (
    FINGERPRINT_KEY,
    LAKE_TABLES,
    JsonFingerprint,
    match_name,
    table_paths,
)
from datapipeline.sql_queries import load_query

log = logging.getLogger(__name__)

#: The node columns the questions read (``show`` reads them all).
QUESTION_NODE_COLUMNS = ("id", "type", "name", "journal")
QUESTION_EDGE_COLUMNS = ("source", "target")
#: DuckDB's memory for a graph read from JSON (it spills the rest to its temporary folder).
JSON_MEMORY_LIMIT = "256MB"
#: DuckDB's memory for questions on the tables (``show`` on a large graph spills past it).
TABLES_MEMORY_LIMIT = "1GB"

_REQUIRED = {
    "graph_nodes": {"id", "type", "name", "journal", "match_name"},
    "graph_edges": {"source", "target", "target_type"},
}


def drug_key(name: str) -> str:
    """``name`` in the normal form drug names are compared in (the ``match_name`` column)."""
    return str(pl.select(normalize_for_matching(pl.lit(name, dtype=pl.String))).item())


class GraphDatabase:
    """The graph's ``graph_nodes`` and ``graph_edges`` in a DuckDB connection; the questions.

    ``origin`` names the graph in messages. Close it (or use it as a context manager) to
    drop its temporary files.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, origin: str, temp: Path | None = None
    ) -> None:
        self.con = con
        self.origin = origin
        self._temp = temp

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def _connected(cls, origin: str, memory_limit: str) -> GraphDatabase:
        """A connection held to ``memory_limit``, spilling past it to a temporary folder of
        its own (DuckDB's default would be a folder in the working directory)."""
        temp = Path(tempfile.mkdtemp(prefix="datapipeline-graph-"))
        try:
            con = duckdb.connect()
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = {_literal(str(temp / 'spill'))}")
            con.execute("SET preserve_insertion_order = false")
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return cls(con, origin, temp)

    @classmethod
    def of_tables(cls, nodes: list[Path], edges: list[Path], origin: str) -> GraphDatabase:
        """The graph in Parquet files: read in place, lazily."""
        graph = cls._connected(origin, TABLES_MEMORY_LIMIT)
        try:
            for view, files in (("graph_nodes", nodes), ("graph_edges", edges)):
                listed = ", ".join(_literal(str(f)) for f in files)
                graph.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listed}])")
                columns = {row[0] for row in graph.fetch(f"DESCRIBE {view}")}
                missing = sorted(_REQUIRED[view] - columns)
                if missing:
                    raise GraphError(
                        f"{origin}: not the graph's {view} table (no column {missing[0]!r})"
                    )
        except BaseException:
            graph.close()
            raise
        return graph

    @classmethod
    def of_parts(cls, parts: Iterable[Part], origin: str, full: bool = False) -> GraphDatabase:
        """The graph from frames of nodes and edges (:mod:`graph_json`), copied into a
        DuckDB database held in memory up to :data:`JSON_MEMORY_LIMIT` (past it, spilled to a
        temporary folder). ``full``: keep every field (else those the questions read)."""
        graph = cls._connected(origin, JSON_MEMORY_LIMIT)
        try:
            graph._load(parts, full)
        except BaseException:
            graph.close()
            raise
        return graph

    def _load(self, parts: Iterable[Part], full: bool) -> None:
        node_columns = NODE_FIELDS if full else QUESTION_NODE_COLUMNS
        edge_columns = EDGE_FIELDS if full else QUESTION_EDGE_COLUMNS
        self._create_raw_tables()
        for kind, frame in parts:
            if kind == "drop links":  # a document with both: edges win, as in networkx
                self.execute("DELETE FROM raw_edges WHERE from_links")
                continue
            if kind == "nodes":
                if frame.get_column("id").null_count():
                    raise GraphError(f"{self.origin}: a node without an id")
                rows = frame.select(*node_columns, match_name().alias("match_name"))
                table = "raw_nodes"
            else:
                ends = pl.col("source").is_null() | pl.col("target").is_null()
                if frame.select(ends.any()).item():
                    raise GraphError(f"{self.origin}: an edge without a source or a target")
                rows = frame.select(*edge_columns).with_columns(
                    pl.lit(kind == "links").alias("from_links")
                )
                table = "raw_edges"
            self.con.register("chunk", rows.to_arrow())
            try:
                self.execute(f"INSERT INTO {table} BY NAME SELECT * FROM chunk")
            finally:
                self.con.unregister("chunk")
        self._check_and_index()

    def _create_raw_tables(self) -> None:
        node_columns = ", ".join(f"{c} VARCHAR" for c in (*NODE_FIELDS, "match_name"))
        edge_columns = ", ".join(f"{c} VARCHAR" for c in EDGE_FIELDS)
        self.execute(f"CREATE TABLE raw_nodes ({node_columns})")
        self.execute(f"CREATE TABLE raw_edges ({edge_columns}, from_links BOOLEAN)")

    def _check_and_index(self) -> None:
        """Check what the in-memory reader checked; give each edge its target's type."""
        self.execute(
            "CREATE TABLE node_types AS "
            "SELECT id, min(type) AS type, count(*) AS copies FROM raw_nodes GROUP BY id"
        )
        twice = self.fetch("SELECT id FROM node_types WHERE copies > 1 ORDER BY id LIMIT 1")
        if twice:
            raise GraphError(f"{self.origin}: node {twice[0][0]!r} is listed twice")
        self.execute(
            "CREATE TABLE graph_edges AS "
            "SELECT e.* EXCLUDE (from_links), t.type AS target_type, t.id IS NULL AS dangling "
            "FROM raw_edges AS e LEFT JOIN node_types AS t ON t.id = e.target"
        )
        dangling = self.fetch("SELECT target FROM graph_edges WHERE dangling LIMIT 1")
        if dangling:
            raise GraphError(
                f"{self.origin}: not a drug-mention graph: edge to {dangling[0][0]!r}, "
                "which is not a node"
            )
        self.execute("CREATE VIEW graph_nodes AS SELECT * FROM raw_nodes")

    # --- running SQL -----------------------------------------------------------------------

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run ``sql``; a DuckDB error (an unreadable file…) is one :class:`GraphError`."""
        self.fetch(sql, params, rows=False)

    def fetch(
        self, sql: str, params: dict[str, Any] | None = None, rows: bool = True
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql``."""
        try:
            cursor = self.con.execute(sql, params) if params else self.con.execute(sql)
            return cursor.fetchall() if rows else []
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GraphError(f"{self.origin}: cannot read the graph ({first})") from None

    def frame(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """The result of ``sql`` as a Polars frame."""
        try:
            relation = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            convert = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return pl.DataFrame(convert())
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GraphError(f"{self.origin}: cannot read the graph ({first})") from None

    def register(self, name: str, frame: pl.DataFrame) -> None:
        """Make ``frame`` a table ``name`` of the connection (a list of ids to filter on…)."""
        self.con.register(name, frame.to_arrow())

    # --- the questions ---------------------------------------------------------------------

    def top_journals(self) -> tuple[int, list[str]]:
        """The journal(s) mentioning the most distinct drugs: (count, names sorted), all ties."""
        rows = self.fetch(load_query("top_journals"))
        if not rows:
            return 0, []
        return int(rows[0][1]), sorted(str(name) for name, _ in rows)

    def related_drugs(self, drug: str) -> tuple[str, list[str]]:
        """(drug name, the other drugs mentioned in PubMed by the journals mentioning it in
        PubMed); clinical trials count on neither side. The drug is found by its name in the
        normal form of matching (any case, with or without accents)."""
        rows = self.fetch(load_query("related_drugs"), {"drug_key": drug_key(drug)})
        if not rows:
            raise GraphError(f"drug {drug!r} is not in the graph")
        return str(rows[0][0]), sorted(str(r) for _, r in rows if r is not None)

    # --- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection and drop the temporary files."""
        try:
            self.con.close()
        finally:
            if self._temp is not None:
                shutil.rmtree(self._temp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def open_graph(path: Path, full: bool = False) -> GraphDatabase:
    """The graph at ``path``: a graph.json (its Parquet tables beside it when they belong to
    it, else the file streamed), a folder holding the tables (or a graph.json), or one of the
    two Parquet files. ``full``: every field (``show``), else those the questions read."""
    path = Path(path)
    tables = _tables(path)
    if tables is not None:
        return GraphDatabase.of_tables(*tables, origin=str(path))
    json_path = path / "graph.json" if path.is_dir() else path
    if path.is_dir() and not json_path.is_file():
        raise GraphError(f"{path}: no graph tables or graph.json in this folder")
    try:
        return GraphDatabase.of_parts(graph_frames(json_path), str(json_path), full)
    except NotOwnLayout:
        log.info("%s: not in the pipeline's own layout: parsed as any JSON", json_path)
    return GraphDatabase.of_parts(parsed_frames(json_path), str(json_path), full)


def _tables(path: Path) -> tuple[list[Path], list[Path]] | None:
    """The Parquet files of the graph at ``path``, when there are (and they are its own)."""
    if path.is_dir():
        graph_json = path / "graph.json"
        beside = table_paths(graph_json)
        if all(p.is_file() for p in beside.values()):
            if graph_json.is_file() and not _belongs(graph_json, list(beside.values())):
                return None  # left by a crash beside a newer graph.json: that file is read
            return [beside["nodes"]], [beside["edges"]]
        lake = {k: sorted((path / t).glob("[!.]*.parquet")) for k, t in LAKE_TABLES.items()}
        if lake["nodes"] and lake["edges"]:
            return lake["nodes"], lake["edges"]
        return None
    if path.suffix == ".parquet":
        for kind in ("nodes", "edges"):
            if path.name.endswith(f"_{kind}.parquet"):
                stem = path.name[: -len(f"_{kind}.parquet")]
                pair = table_paths(path.with_name(f"{stem}.json"))
                if not all(p.is_file() for p in pair.values()):
                    raise GraphError(f"{path}: the other table of the graph is missing")
                return [pair["nodes"]], [pair["edges"]]
        raise GraphError(f"{path}: expected the graph's *_nodes.parquet or *_edges.parquet")
    beside = table_paths(path)
    if not path.is_file() or not all(p.is_file() for p in beside.values()):
        return None
    if not _belongs(path, list(beside.values())):
        log.info("%s: the tables beside it are not its own: the file is streamed", path)
        return None
    return [beside["nodes"]], [beside["edges"]]


def _belongs(graph_json: Path, tables: list[Path]) -> bool:
    """Whether ``tables`` were written with ``graph_json`` (their footer names its fingerprint)."""
    wanted = JsonFingerprint.of_file(graph_json)
    for table in tables:
        try:
            metadata = pq.read_metadata(table).metadata or {}
        except (OSError, ValueError):
            return False
        written = metadata.get(FINGERPRINT_KEY.encode(), b"")
        if f'"{wanted}"'.encode() not in written:
            return False
    return True
