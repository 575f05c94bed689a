"""The source kinds the pipeline knows, their canonical columns and accepted input aliases."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: Provenance columns added by every reader: which file and which record (1-based) a row came from.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"


@dataclass(frozen=True)
class SourceKind:
    """A kind of source table: the canonical columns it must provide and their input spellings."""

    name: str
    #: canonical column -> accepted input column names (case-insensitive), first is the usual one
    columns: dict[str, tuple[str, ...]]
    #: columns that must exist in the input file's header
    required: tuple[str, ...]

    def matching_columns(self, input_columns: list[str]) -> dict[str, list[str]]:
        """Map canonical column -> every input column that spells it, in input order."""
        spellings = {a.lower(): c for c, aliases in self.columns.items() for a in aliases}
        found: dict[str, list[str]] = {}
        for column in input_columns:
            canonical = spellings.get(column.strip().lower())
            if canonical is not None:
                found.setdefault(canonical, []).append(column)
        return found

    def column_clash(self, input_columns: list[str]) -> str | None:
        """What is wrong when two input columns spell the same canonical column, else None.

        Such a file is refused rather than one of the columns dropped: ``title`` and
        ``scientific_title`` together, ``drug`` twice, ``drug`` and ``Drug``.
        """
        for canonical, columns in self.matching_columns(input_columns).items():
            if len(columns) < 2:
                continue
            if len(set(columns)) == 1:
                return (
                    f"column {columns[0]!r} appears {len(columns)} times in the header; "
                    f"{self.name} needs one {canonical} column: keep one"
                )
            names = ", ".join(repr(c) for c in columns[:-1]) + f" and {columns[-1]!r}"
            both = "both" if len(columns) == 2 else "all"
            return f"columns {names} are {both} the {canonical} of {self.name}: keep one"
        return None

    def resolve_columns(self, input_columns: list[str]) -> dict[str, str]:
        """Map canonical column -> input column for the columns present in ``input_columns``."""
        by_lower = {c.strip().lower(): c for c in input_columns}
        found: dict[str, str] = {}
        for canonical, aliases in self.columns.items():
            for alias in aliases:
                if alias.lower() in by_lower:
                    found[canonical] = by_lower[alias.lower()]
                    break
        return found


DRUGS = SourceKind(
    name="drugs",
    columns={"atccode": ("atccode", "atc_code", "atc"), "name": ("drug", "name", "drug_name")},
    required=("name",),
)
PUBMED = SourceKind(
    name="pubmed",
    columns={
        "source_id": ("id", "pmid", "source_id"),
        "title": ("title", "article_title"),
        "date": ("date", "publication_date"),
        "journal": ("journal", "journal_title"),
    },
    required=("source_id", "title", "date", "journal"),
)
CLINICAL_TRIALS = SourceKind(
    name="clinical_trials",
    columns={
        "source_id": ("id", "nct_id", "nctid", "source_id"),
        "title": ("scientific_title", "title", "official_title", "brief_title"),
        "date": ("date", "start_date"),
        "journal": ("journal",),
    },
    required=("source_id", "title", "date", "journal"),
)

KINDS: dict[str, SourceKind] = {k.name: k for k in (DRUGS, PUBMED, CLINICAL_TRIALS)}

#: Publication kinds, with the node ``type`` they get in the graph.
PUBLICATION_TYPES: dict[str, str] = {"pubmed": "pubmed", "clinical_trials": "clinical_trial"}


#: The sales tables of the SQL queries: kind name -> columns and their types, as the SQL
#: specification gives them (typed when imported: :mod:`datapipeline.sales`).
SALES_TABLES: dict[str, pa.Schema] = {
    "transactions": pa.schema(
        [
            ("date", pa.date32()),
            ("order_id", pa.int64()),
            ("client_id", pa.int64()),
            ("prod_id", pa.int64()),
            ("prod_price", pa.decimal128(12, 2)),
            ("prod_qty", pa.int64()),
        ]
    ),
    "product_nomenclature": pa.schema(
        [
            ("product_id", pa.int64()),
            ("product_type", pa.string()),
            ("product_name", pa.string()),
        ]
    ),
}
