"""What a run keeps of each lake part for the next one: its rows cleaned and its titles' matches.

A part's rows never change (a part written again gets a new name), and cleaning and matching
are row by row: a part's cleaned rows, and the drug patterns its titles mention, stand as long
as the part does. Matches are kept with the set of patterns they were found with: a drug list
that gains patterns has only those matched against the part's titles; lost ones are dropped.
Merging duplicates, node ids and the graph depend on every row at once: each run computes them
from the parts' cached rows. Kept under ``_state/run/parts/<table>/<part>/`` (written on a
thread of their own while the run goes on); the caches of parts that are gone are deleted.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
import pyarrow.fs as pafs

from datapipeline.lake import STATE_DIR, Lake
from datapipeline.mentions.matching import find_mentions, title_words
from datapipeline.mentions.recipe import Cleaned, SourceAccount

#: Bumped when readers, cleaning or matching rules change what a cached result would hold.
CACHE_VERSION = 4
PARTS_DIR = f"{STATE_DIR}/run/parts-v{CACHE_VERSION}"
PATTERNS_DIR = f"{STATE_DIR}/run/patterns"


def patterns_digest(patterns: Iterable[str]) -> str:
    """A short hash naming a set of drug patterns."""
    return hashlib.sha256("\n".join(sorted(set(patterns))).encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Matches:
    """The mentions of a part's titles: (``row``, ``pattern``), ``row`` the kept row's
    position, found with the pattern set ``digest``."""

    pairs: pl.DataFrame
    digest: str


def _ipc(frame: pl.DataFrame) -> bytes:
    # Arrow IPC, uncompressed: written and read back at the speed of a copy (a cache is read
    # by the next run on this machine; its size matters less than its cost to the run)
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return buffer.getvalue()


class PartCache:
    """The cached clean and match results of a lake's parts."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="part-cache")
        self._pending: list[Future[None]] = []

    def _path(self, table: str, part: str, name: str) -> str:
        return f"{self.lake.root}/{PARTS_DIR}/{table}/{part}/{name}"

    def _read(self, path: str) -> bytes | None:
        try:
            with self.lake.fs.open_input_file(path) as handle:
                return bytes(handle.read())
        except (FileNotFoundError, OSError):
            return None

    def cleaned(self, table: str, part: str) -> Cleaned | None:
        """The part's cached clean step result, if any."""
        kept = self._read(self._path(table, part, "kept.arrow"))
        rejected = self._read(self._path(table, part, "rejected.arrow"))
        account = self._read(self._path(table, part, "account.json"))
        if kept is None or rejected is None or account is None:
            return None
        try:
            values = json.loads(account)
            return Cleaned(
                kept=pl.read_ipc(kept),
                rejected=pl.read_ipc(rejected),
                rejected_as_cleaned=pl.DataFrame(),
                account=SourceAccount(**values),
            )
        except (ValueError, TypeError, pl.exceptions.PolarsError):
            return None

    def matches(self, table: str, part: str) -> Matches | None:
        """The part's cached matches, if any."""
        data = self._read(self._path(table, part, "matches.arrow"))
        digest = self._read(self._path(table, part, "patterns.txt"))
        if data is None or digest is None:
            return None
        try:
            return Matches(pl.read_ipc(data), digest.decode())
        except (UnicodeDecodeError, pl.exceptions.PolarsError):
            return None

    def keep_cleaned(self, table: str, part: str, cleaned: Cleaned) -> None:
        """Cache the part's clean step result (on the writer thread)."""
        account = json.dumps(cleaned.account.to_dict()).encode()
        self._write(
            {
                self._path(table, part, "kept.arrow"): lambda: _ipc(cleaned.kept),
                self._path(table, part, "rejected.arrow"): lambda: _ipc(cleaned.rejected),
                self._path(table, part, "account.json"): lambda: account,
            }
        )

    def keep_matches(self, table: str, part: str, matches: Matches) -> None:
        """Cache the part's matches (on the writer thread)."""
        self._write(
            {
                self._path(table, part, "matches.arrow"): lambda: _ipc(matches.pairs),
                self._path(table, part, "patterns.txt"): lambda: matches.digest.encode(),
            }
        )

    def _write(self, files: dict[str, object]) -> None:
        def write() -> None:
            for path, body in files.items():
                self.lake.write_bytes(path, body())  # type: ignore[operator]

        self._pending.append(self._pool.submit(write))

    def patterns(self, digest: str) -> pl.Series | None:
        """The pattern set named ``digest``, if kept."""
        data = self._read(f"{self.lake.root}/{PATTERNS_DIR}/{digest}.arrow")
        if data is None:
            return None
        return pl.read_ipc(data).get_column("pattern")

    def keep_patterns(self, patterns: pl.Series, digest: str) -> None:
        """Keep the pattern set ``digest`` (once)."""
        path = f"{self.lake.root}/{PATTERNS_DIR}/{digest}.arrow"
        if self.lake.fs.get_file_info(path).type != pafs.FileType.File:
            self.lake.write_bytes(path, _ipc(patterns.sort().to_frame("pattern")))

    def wait(self) -> None:
        """Finish writing the caches (raises the first write error, if any)."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            self._pending = []

    def prune(self, live: set[tuple[str, str]], digest: str) -> None:
        """Delete the caches of parts not in ``live`` (table, part), and pattern sets other
        than ``digest`` that no cached match refers to."""
        fs, root = self.lake.fs, self.lake.root
        used = {digest}
        selector = pafs.FileSelector(f"{root}/{PARTS_DIR}", allow_not_found=True)
        for table_dir in fs.get_file_info(selector):
            if table_dir.type != pafs.FileType.Directory:
                continue
            for part_dir in fs.get_file_info(pafs.FileSelector(table_dir.path)):
                if (table_dir.base_name, part_dir.base_name) not in live:
                    fs.delete_dir(part_dir.path)
                else:
                    kept = self._read(f"{part_dir.path}/patterns.txt")
                    used.add(kept.decode() if kept else "")
        patterns = pafs.FileSelector(f"{root}/{PATTERNS_DIR}", allow_not_found=True)
        for info in fs.get_file_info(patterns):
            if info.base_name.removesuffix(".arrow") not in used:
                fs.delete_file(info.path)
        # caches of earlier versions
        run_dir = pafs.FileSelector(f"{root}/{STATE_DIR}/run", allow_not_found=True)
        for info in fs.get_file_info(run_dir):
            stale = f"{STATE_DIR}/run/{info.base_name}" != PARTS_DIR
            if (
                info.type == pafs.FileType.Directory
                and info.base_name.startswith("parts")
                and stale
            ):
                fs.delete_dir(info.path)


def match_part(
    kept: pl.DataFrame,
    patterns: pl.Series,
    digest: str,
    cached: Matches | None,
    old_patterns: pl.Series | None,
    words: pl.Series | None = None,
) -> tuple[Matches, int, int]:
    """The mentions of a part's kept rows (``row``, ``pattern``) with the pattern set
    ``patterns``: from ``cached`` when it was found with them; else the cached pairs of
    patterns still in the set plus the new patterns matched (when ``old_patterns``, the set
    ``cached`` was found with, is known); else every title against every pattern. Returns
    (the matches, titles matched, patterns matched)."""
    if cached is not None and cached.digest == digest:
        return cached, 0, 0
    titles = kept.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "title")
    if cached is not None and old_patterns is not None:
        kept_pairs = cached.pairs.filter(pl.col("pattern").is_in(patterns.implode()))
        added = patterns.filter(~patterns.is_in(old_patterns.implode()))
        new_pairs = _match(titles, added, words)
        pairs = pl.concat([kept_pairs, new_pairs])
        return Matches(pairs, digest), titles.height if added.len() else 0, added.len()
    pairs = _match(titles, patterns, words)
    return Matches(pairs, digest), titles.height, patterns.len()


def _match(titles: pl.DataFrame, patterns: pl.Series, words: pl.Series | None) -> pl.DataFrame:
    if patterns.is_empty():
        return pl.DataFrame(schema={"row": pl.UInt32, "pattern": pl.String})
    if words is None:
        words = title_words(titles.get_column("title"))
    frame = patterns.to_frame("pattern").with_columns(pl.col("pattern").alias("_id"))
    return find_mentions(titles, frame, words, title_id="row", drug_id="_id").rename(
        {"_id": "pattern"}
    )
