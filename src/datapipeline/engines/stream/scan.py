"""Pass 1 of the stream engine: each lake part cleaned and matched on its own, a few at a time.

Of each kept row only two hashes stay in memory, of its merge key and of its id; the rows with
a mention, which alone can become nodes, are spilled as node rows (sorted by node id) and edge
rows (sorted by drug id), one file per part.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datapipeline.engines.stream.buckets import Buckets
from datapipeline.errors import LakeError
from datapipeline.lake import Lake
from datapipeline.mentions import recipe
from datapipeline.mentions.cleaning import PUB_KEY
from datapipeline.mentions.matching import Matcher, words_and_merge_keys
from datapipeline.mentions.nodes import journal_spellings
from datapipeline.mentions.recipe import SourceAccount
from datapipeline.progress import Progress
from datapipeline.schema import CLINICAL_TRIALS, PUBMED, SOURCE_FILE, SOURCE_ROW, SourceKind

#: Parts cleaned and matched at once in pass 1. Their results are taken in order: with two, a
#: large part held the next one back while a small one had finished.
PARTS_IN_FLIGHT = 3


#: The kinds of publications, in the order their rows are numbered.
PUBLICATION_KINDS = (PUBMED, CLINICAL_TRIALS)
#: A lake part to read: its path and the rows (offset, rows) to read of it, None: all.
LivePart = tuple[str, list[tuple[int, int]] | None]


#: A node row and an edge row as spilled.
NODE_COLUMNS = [PUB_KEY, "id", "type", "source_id", "title", "date", "journal"]


EDGE_COLUMNS = [PUB_KEY, "drug_id", "id", "date", "journal"]


EDGE_SCHEMA = {
    PUB_KEY: pl.UInt32,
    "drug_id": pl.String,
    "id": pl.String,
    "date": pl.Date,
    "journal": pl.String,
}


def compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in buffers of its own.

    A few rows taken from a part (filter, gather, join) share the part's string buffers, which
    stay alive as long as they do: kept over every part, they would hold the whole lake.
    """
    return pl.DataFrame(frame.to_arrow())


def canonical(raw: pl.DataFrame, kind: SourceKind) -> pl.DataFrame:
    """``raw`` with every canonical column of ``kind`` (a part without one gets nulls)."""
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in kind.columns if c not in raw]
    return raw.with_columns(missing) if missing else raw


def node_schema() -> dict[str, Any]:
    return {
        PUB_KEY: pl.UInt32,
        "id": pl.String,
        "type": pl.String,
        "source_id": pl.String,
        "title": pl.String,
        "date": pl.Date,
        "journal": pl.String,
    }


@dataclass
class PartScan:
    """What pass 1 keeps of one lake part."""

    kind: SourceKind
    path: str
    #: the part's rows read (offset, rows), None: all
    ranges: list[tuple[int, int]] | None
    index: int
    #: rows read in the parts before: a row's number (``PUB_KEY``) is offset + its position
    offset: int
    raw_rows: int
    kept: int
    #: positions in the part of its rejected rows
    rejected_at: pl.Series
    #: per kept row, in order: ``key`` (hash of the merge key), ``id_key`` (of the id, or null)
    keys: pl.DataFrame
    #: numbers of the kept rows that mention a drug, ascending
    mentioned: pl.Series


@dataclass
class PartResult:
    """What pass 1 over one part hands back to the main thread."""

    part: PartScan
    pubs: pl.DataFrame
    edges: pl.DataFrame
    spellings: pl.DataFrame
    mentioned_spellings: pl.DataFrame
    rejected: pl.DataFrame
    #: rows read and rejected
    account: SourceAccount


class Scan:
    """Pass 1 over the publication parts: three parts at a time, the next one read meanwhile.

    Parts are independent: a row's number is its part's offset (rows read in the parts
    before) plus its position in the part. Their results are taken in order, so that what
    depends on order (the buckets' ranges, fixed by the first part with mentions) does not
    depend on which thread finished first.
    """

    def __init__(
        self,
        lake: Lake,
        spill_dir: Path,
        patterns: pl.DataFrame,
        matcher: Matcher,
        rows_per_bucket: int,
    ) -> None:
        self.lake = lake
        self.patterns = patterns
        self.matcher = matcher
        self.rows_per_bucket = rows_per_bucket
        self.parts: list[PartScan] = []
        self.nodes = {
            k.name: Buckets(spill_dir / "nodes" / k.name, "id", node_schema())
            for k in PUBLICATION_KINDS
        }
        self.edges = Buckets(spill_dir / "edges", "drug_id", EDGE_SCHEMA)
        #: journal spelling counts per part: of every kept row, of the rows with a mention
        self.spellings: list[pl.DataFrame] = []
        self.mentioned_spellings: list[pl.DataFrame] = []
        self.rejected: list[pl.DataFrame] = []
        #: per kind, the clean step's share of its account
        self.accounts: dict[str, SourceAccount] = {}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="spill")
        self._writes: deque[Future[None]] = deque()

    def run(self, kinds: list[tuple[SourceKind, list[LivePart]]], progress: Progress) -> None:
        """Pass 1 over every part of ``kinds`` (kind, its parts: path and rows to read)."""
        todo = [(kind, part) for kind, parts in kinds for part in parts]
        offset = 0
        try:
            with (
                ThreadPoolExecutor(1, thread_name_prefix="read-part") as reader,
                ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="part") as workers,
            ):
                ahead = deque(reader.submit(self.lake.read_part_frame, *p) for _, p in todo[:1])
                running: deque[Future[PartResult]] = deque()
                for index, (kind, part) in enumerate(todo):
                    raw = ahead.popleft().result()
                    if offset + raw.height > 2**32:
                        raise LakeError(f"{self.lake.url}: more than 2^32 publication rows")
                    if index + 1 < len(todo):
                        ahead.append(reader.submit(self.lake.read_part_frame, *todo[index + 1][1]))
                    running.append(workers.submit(self._part, kind, part, index, offset, raw))
                    offset += raw.height
                    del raw
                    while len(running) >= PARTS_IN_FLIGHT:
                        self._take(running.popleft().result())
                        progress("clean and match", len(self.parts), len(todo))
                while running:
                    self._take(running.popleft().result())
                    progress("clean and match", len(self.parts), len(todo))
            while self._writes:
                self._writes.popleft().result()
        finally:
            self._writer.shutdown(wait=True)
        for buckets in [*self.nodes.values(), self.edges]:
            buckets.cut(self.rows_per_bucket)

    def _part(
        self, kind: SourceKind, live: LivePart, index: int, offset: int, raw: pl.DataFrame
    ) -> PartResult:
        """Pass 1 over one part (on a worker thread: it touches nothing shared)."""
        raw = canonical(raw, kind).with_row_index("_raw")
        clean = recipe.clean(raw, kind)
        kept = clean.kept.with_columns((pl.col("_raw") + offset).cast(pl.UInt32).alias(PUB_KEY))
        words, merge_keys = words_and_merge_keys(kept.get_column("title"))
        titles = kept.select(
            pl.col(PUB_KEY).alias("pub_id"), "title", "kind", SOURCE_FILE, SOURCE_ROW
        )
        # matching runs on a thread (Polars releases the GIL) while the rest is computed
        with ThreadPoolExecutor(1, thread_name_prefix="match") as pool:
            matching = pool.submit(self.matcher, titles, self.patterns, words)
            # equal for rows equal but for case (a superset: see title_merge_keys)
            keys = kept.select(
                pl.struct(merge_keys, "date").hash().alias("key"),
                pl.when(pl.col("source_id").is_not_null())
                .then(pl.col("source_id").hash())
                .alias("id_key"),
            )
            spellings = compact(journal_spellings(kept))
            rejected_rows = compact(clean.rejected)
            mentions = matching.result()
        mentioned = mentions.get_column("pub_id").unique().sort()
        # node ids as if every row were a record of its own: right for every row that is
        # (those that are not are replaced after pass 1)
        pubs = recipe.node_ids(
            kept.filter(pl.col(PUB_KEY).is_in(mentioned.implode())).select(
                PUB_KEY, "kind", "source_id", "title", "date", "journal"
            )
        ).select(NODE_COLUMNS)
        edges = mentions.join(
            pubs.select(PUB_KEY, "id", "date", "journal"), left_on="pub_id", right_on=PUB_KEY
        ).select(pl.col("pub_id").alias(PUB_KEY), *EDGE_COLUMNS[1:])
        part = PartScan(
            kind=kind,
            path=live[0],
            ranges=live[1],
            index=index,
            offset=offset,
            raw_rows=raw.height,
            kept=kept.height,
            rejected_at=clean.rejected_as_cleaned.get_column("_raw"),
            keys=keys,
            mentioned=mentioned,
        )
        return PartResult(
            part=part,
            pubs=pubs,
            edges=edges,
            spellings=spellings,
            mentioned_spellings=compact(journal_spellings(pubs)),
            rejected=rejected_rows,
            account=clean.account,
        )

    def _take(self, result: PartResult) -> None:
        """Keep what a part left (in part order) and spill its node and edge rows."""
        part = result.part
        self.parts.append(part)
        self.spellings.append(result.spellings)
        self.mentioned_spellings.append(result.mentioned_spellings)
        self.rejected.append(result.rejected)
        kind = part.kind.name
        self.accounts[kind] = self.accounts.get(kind, SourceAccount()) + result.account
        self._spill(part.kind, part.index, result.pubs, result.edges)

    def _spill(self, kind: SourceKind, index: int, pubs: pl.DataFrame, edges: pl.DataFrame) -> None:
        """Write the part's node and edge rows on the writer thread."""
        nodes = self.nodes[kind.name]

        def write() -> None:
            if not pubs.is_empty():
                nodes.write(pubs, index)
            if not edges.is_empty():
                self.edges.write(edges, index)

        self._writes.append(self._writer.submit(write))
        # a bounded backlog of writes: memory stays that of a few parts
        while len(self._writes) > 2:
            self._writes.popleft().result()
