"""Where a run's sources are: the files of a ``--data-dir`` by name, and reading one source.

A data folder holds the four kinds of sources by file-name pattern (``drugs*.csv``,
``pubmed*.csv|json|xml|xml.gz``, ``clinical_trials*.csv``, ``nct*.json``…), any number of files
each; each file is a :class:`~datapipeline.config.Source` of the reader its name calls for.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from pathlib import Path

import pyarrow as pa

from datapipeline.config import Source
from datapipeline.errors import InputError
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import canonical_schema, to_canonical
from datapipeline.schema import KINDS

#: ``--data-dir`` layout: file-name patterns per source kind, and the reader for each.
DATA_DIR_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "drugs": (("drugs*.csv", "csv"),),
    "pubmed": (
        ("pubmed*.csv", "csv"),
        ("pubmed*.json", "json"),
        ("pubmed*.xml", "pubmed_xml"),
        ("pubmed*.xml.gz", "pubmed_xml"),
    ),
    "clinical_trials": (
        ("clinical_trials*.csv", "csv"),
        ("nct*.json", "ctgov_json"),
        ("ctgov*.json", "ctgov_json"),
    ),
}


SAMPLE_DATA_DIR = Path(__file__).parent.parent / "sample_data"


def source_id_for(path: str) -> str:
    """A source id for a file of a data folder: its name where that is a valid id, else the
    name made valid with a hash of the whole name appended (ids only label a source in logs:
    the source is known by its path)."""
    name = path.rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9_.=-]", "_", name).replace("..", "_.")[:180].lstrip("._-")
    if cleaned == name and cleaned:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{cleaned or 'file'}-{digest}"


def discover_sources(data_dir: Path) -> list[Source]:
    """The sources in a ``--data-dir`` folder, by file name; each kind needs one file at least."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data folder not found")
    with os.scandir(data_dir) as entries:
        paths = [str(data_dir / e.name) for e in entries if e.is_file()]
    return sources_from_files(paths, str(data_dir))


#: The patterns of :data:`DATA_DIR_PATTERNS`, compiled.
_PATTERNS = {
    kind: [(re.compile(fnmatch.translate(pattern)), reader) for pattern, reader in patterns]
    for kind, patterns in DATA_DIR_PATTERNS.items()
}


def sources_from_files(paths: list[str], data_dir: str) -> list[Source]:
    """The sources among ``paths`` (the files of ``data_dir``, local paths or URLs), by name."""
    named = sorted((path, path.rsplit("/", 1)[-1].lower()) for path in paths)
    sources: list[Source] = []
    for kind, patterns in _PATTERNS.items():
        # built without validation: every value is made valid here
        found = [
            Source.model_construct(
                source_id=source_id_for(path),
                source_type=source_type,
                source=path,
                dest_table=kind,
                kind=None,
                options={},
            )
            for path, name in named
            for pattern, source_type in patterns
            if pattern.match(name)
        ]
        if not found:
            wanted = " or ".join(p for p, _ in DATA_DIR_PATTERNS[kind])
            raise InputError(f"{data_dir}: no {kind} source: expected a file named {wanted}")
        sources += found
    return sources


def reader_options(source: Source, **extra: object) -> dict[str, object]:
    """The options a reader gets: the source's own, its id (database secrets are named after
    it) and ``extra``."""
    return {**source.options, "source_id": source.source_id, **extra}


def read_source(source: Source) -> pa.Table:
    """Read one source with its registered reader into the canonical columns of its kind.

    The whole source is held in memory: for large sources :func:`import_source` streams.
    """
    kind = KINDS[source.source_kind]
    reader = get_reader(source.source_type)
    batches = list(reader(source.source, **reader_options(source)))
    if not batches:
        return canonical_schema(kind).empty_table()
    return to_canonical(pa.Table.from_batches(batches), kind, source.source)
