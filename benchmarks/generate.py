"""Synthetic inputs for the main job, in the ``datapipeline run --data-dir`` layout.

    python benchmarks/generate.py OUT_DIR --titles 1000000 --drugs 10000 [--files 2]
        [--mention-rate 0.3] [--seed 42] [--chunk-titles 2000000]

writes ``drugs*.csv`` (atccode,drug), ``pubmed*.csv`` (id,title,date,journal), ``pubmed*.json``
(an array of {id,title,date,journal}) and ``clinical_trials*.csv``
(id,scientific_title,date,journal), plus ``manifest.json`` (what was generated; no input pattern
matches that name). The same seed gives the same bytes.

The data looks like the real files: titles of 8-20 words drawn from a vocabulary with a skewed
(Zipf-like) frequency, drug names of one or two words (some accented), mentions in several
spellings (case, accents, ``-induced``, ``/``, parentheses, doubled spaces), *traps* that embed a
drug name inside a longer word (``methanol`` for ETHANOL) and must not match, dates in the three
accepted formats, a few hundred journals, and a small share of defects (blank lines, missing
titles, impossible dates, duplicates and id-less copies). Everything is drawn as numpy arrays
and assembled with Polars list/string kernels: no Python loop over rows, so a million titles
take seconds. Titles are drawn ``--chunk-titles`` at a time, each chunk written to its own files,
so memory stays bounded at any size (PubMed scale: 36M titles); see :func:`generate`.
"""

from __future__ import annotations

import argparse
import calendar
import itertools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

#: Share of titles per source: PubMed CSV, PubMed JSON, clinical trials CSV.
SOURCE_SHARES = (0.45, 0.30, 0.25)
#: Defect rates, per row of a publication source (each defect is an extra row).
BLANK_RATE = 0.001
MISSING_TITLE_RATE = 0.001
BAD_DATE_RATE = 0.0005
DUPLICATE_RATE = 0.002
#: Share of titles with a trap word (a drug name inside a longer word).
TRAP_RATE = 0.05

_ONSETS = "b c d f g h k l m n p r s t v z br cr dr fl gr pl pr st tr ch ph th".split()  # noqa: SIM905
_VOWELS = ["a", "e", "i", "o", "u", "ae", "io", "ou", "y"]
_WORD_ENDS = ["n", "r", "s", "t", "l", "x", "m", "nd", "rt", "st", "ng", "ct", "ss"]
#: Drug-like endings; vocabulary words never end so, so a word is never a drug name by chance.
_DRUG_ENDS = [
    "ine",
    "amine",
    "azole",
    "mab",
    "olol",
    "pril",
    "sartan",
    "cillin",
    "cycline",
    "statin",
    "oxacin",
    "afil",
    "idone",
    "ethasone",
]
_SECOND_WORDS = ("ACID", "SODIUM", "HYDROCHLORIDE", "SULFATE", "CITRATE")
_COMMON = [
    "of",
    "the",
    "in",
    "and",
    "with",
    "for",
    "a",
    "on",
    "after",
    "to",
    "by",
    "versus",
    "during",
    "patients",
    "study",
    "effects",
    "treatment",
    "trial",
    "clinical",
    "randomized",
    "analysis",
    "risk",
    "children",
    "adults",
    "therapy",
    "outcomes",
    "induced",
    "among",
    "chronic",
    "acute",
    "use",
    "dose",
    "safety",
    "efficacy",
    "comparison",
    "disease",
    "model",
    "cells",
    "response",
]
_TRAP_PREFIXES = ("meth", "pro", "iso", "dihydro")
_TRAP_SUFFIXES = ("ase", "ic", "amide", "yl")
_MONTHS = list(calendar.month_name[1:])
_JOURNAL_FORMS = (
    "Journal of {a} {b}",
    "The journal of {a} and {b}",
    "{A} research",
    "Annals of {a} {b}",
    "International journal of {a}",
    "{A} & {b} reports",
    "Revue de {a} {b}",
)


@dataclass
class Manifest:
    """What :func:`generate` wrote; tests and the benchmark read it."""

    seed: int
    titles: int
    drugs: int
    files_per_source: int
    mention_rate: float
    files: dict[str, list[str]] = field(default_factory=dict)
    #: data rows written per source kind (defect rows included; blank lines included)
    rows: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    #: titles (before defects) that carry at least one planted drug mention
    titles_with_mentions: int = 0
    #: distinct (title, drug) pairs planted, before defects
    planted_mentions: int = 0


def _syllable_words(rng: np.random.Generator, count: int, ends: list[str]) -> np.ndarray:
    """``count`` distinct pseudo-words (onset+vowel syllables, then one of ``ends``)."""
    out: list[str] = []
    seen: set[str] = set()
    onsets, vowels = np.array(_ONSETS), np.array(_VOWELS)
    while len(out) < count:
        batch = max(1024, 2 * (count - len(out)))
        syllables = rng.integers(1, 4, batch)
        parts = [
            np.char.add(
                onsets[rng.integers(0, len(onsets), batch)],
                vowels[rng.integers(0, len(vowels), batch)],
            )
            for _ in range(3)
        ]
        word = parts[0]
        for k in (1, 2):
            word = np.where(syllables > k, np.char.add(word, parts[k]), word)
        word = np.char.add(word, np.array(ends)[rng.integers(0, len(ends), batch)])
        for w in word.tolist():  # dedup of a small vocabulary, not a loop over rows
            if w not in seen:
                seen.add(w)
                out.append(w)
    return np.array(out[:count], dtype=object)


def _drug_names(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Drug names as in the referential (upper case) and their plain lower-case form."""
    singles = np.char.upper(_syllable_words(rng, count, _DRUG_ENDS).astype(str)).astype(object)
    # ~15% are two words: a base name that is not itself a drug, then a salt or "ACID".
    two = rng.random(count) < 0.15
    seconds = np.array(_SECOND_WORDS, dtype=object)[rng.integers(0, len(_SECOND_WORDS), count)]
    names = np.where(two, singles + " " + seconds, singles)
    plain = np.char.lower(names.astype(str)).astype(object)
    # ~5% are written with accents in the referential (BÉTAMÉTHASONE), the first E accented.
    accented = (rng.random(count) < 0.05) & np.char.count(names.astype(str), "E").astype(bool)
    names = np.where(accented, np.char.replace(names.astype(str), "E", "É", count=1), names)
    return names.astype(object), plain


def _atc_codes(rng: np.random.Generator, count: int) -> pl.Series:
    letters = np.array(list("ABCDGHJLMNPRSV"))
    upper = np.array(list("ABCDEFGHJKLMNPRSTX"))
    frame = pl.DataFrame(
        {
            "a": letters[rng.integers(0, len(letters), count)],
            "n": rng.integers(1, 100, count),
            "b": upper[rng.integers(0, len(upper), count)],
            "c": upper[rng.integers(0, len(upper), count)],
        }
    )
    return frame.select(
        pl.concat_str("a", pl.col("n").cast(pl.String).str.zfill(2), "b", "c")
    ).to_series()


def _journals(rng: np.random.Generator, vocabulary: np.ndarray, count: int) -> list[str]:
    words = vocabulary[rng.integers(len(_COMMON), len(vocabulary), (count, 2))]
    forms = rng.integers(0, len(_JOURNAL_FORMS), count)
    names = [
        _JOURNAL_FORMS[f].format(a=a, b=b, A=a.capitalize())
        for f, (a, b) in zip(forms.tolist(), words.tolist(), strict=True)
    ]
    names = list(dict.fromkeys(names))  # a few hundred: small, order kept
    # Real exports carry a few accented names and literal escaped bytes (valid and not);
    # at the end of the list, so they are among the rarer journals.
    names[-3:] = [
        "Hôpitaux Universitaires de Genève",
        "Journal of emergency nursing\\xc3\\x28",
        "Revista de la Sociedad Espa\\xc3\\xb1ola",
    ]
    return names


def _zipf_choice(rng: np.random.Generator, n_items: int, size: int, shift: float) -> np.ndarray:
    """Indices in [0, n_items) with probability ∝ 1/(rank + shift): a few items dominate."""
    weights = 1.0 / (np.arange(n_items) + shift)
    return rng.choice(n_items, size=size, p=weights / weights.sum())


def _date_strings(rng: np.random.Generator, count: int, shares: tuple[float, float]) -> pl.Series:
    """Dates 2015-2024 as dd/mm/yyyy, yyyy-mm-dd or 'd Month yyyy' (shares of the first two)."""
    days = rng.integers(0, 3653, count)
    which = rng.random(count)
    frame = pl.DataFrame({"d": days, "w": which}).with_columns(
        (pl.date(2015, 1, 1) + pl.duration(days=pl.col("d"))).alias("date")
    )
    month = pl.col("date").dt.month().cast(pl.Int64) - 1
    long_form = pl.concat_str(
        pl.col("date").dt.day().cast(pl.String),
        pl.lit(" "),
        pl.lit(pl.Series(_MONTHS)).gather(month),
        pl.lit(" "),
        pl.col("date").dt.year().cast(pl.String),
    )
    text = (
        pl.when(pl.col("w") < shares[0])
        .then(pl.col("date").dt.to_string("%d/%m/%Y"))
        .when(pl.col("w") < shares[0] + shares[1])
        .then(pl.col("date").dt.to_string("%Y-%m-%d"))
        .otherwise(long_form)
    )
    return frame.select(text.alias("date")).to_series()


@dataclass(frozen=True)
class _Tokens:
    """The words a title is made of: lower-case vocabulary, capitalised vocabulary (first word
    of a title), ``n_spell`` spellings of each drug (drug-major), then one trap word per drug."""

    table: pl.Series
    n_vocab: int
    n_drugs: int
    n_spell: int

    @property
    def spell_base(self) -> int:
        return 2 * self.n_vocab

    @property
    def trap_base(self) -> int:
        return self.spell_base + self.n_drugs * self.n_spell


def _token_table(
    rng: np.random.Generator, vocabulary: np.ndarray, drug_plain: np.ndarray, drug_names: np.ndarray
) -> _Tokens:
    """The token table shared by every chunk of titles (the trap words are drawn here)."""
    n_drugs = len(drug_plain)
    lower_plain = drug_plain.astype(str)
    accented_lower = np.char.lower(drug_names.astype(str))
    spellings = [
        lower_plain,
        np.char.title(lower_plain),
        np.char.upper(lower_plain),
        accented_lower,  # the referential's accents, or none
        np.char.add(lower_plain, "-induced"),
        np.char.add(np.char.add("(", np.char.upper(lower_plain)), ")"),
        np.char.add(np.char.title(lower_plain), "/placebo"),
        np.char.replace(lower_plain, " ", "  "),  # a run of spaces in a two-word name
    ]
    spell_table = np.stack(spellings, axis=1).reshape(-1)  # drug-major: drug*n_spell + variant
    first_words = np.array([w.split(" ")[0] for w in lower_plain.tolist()])
    traps = np.char.add(
        np.array(_TRAP_PREFIXES)[rng.integers(0, len(_TRAP_PREFIXES), n_drugs)], first_words
    )
    traps = np.where(
        rng.random(n_drugs) < 0.5,
        traps,
        np.char.add(first_words, np.array(_TRAP_SUFFIXES)[rng.integers(0, 4, n_drugs)]),
    )
    # A trap that happens to spell another drug's name would be a real mention: not a trap.
    traps = np.where(np.isin(traps, lower_plain), "trap", traps)
    table = pl.Series(
        "token",
        np.concatenate(
            [vocabulary.astype(str), np.char.capitalize(vocabulary.astype(str)), spell_table, traps]
        ).tolist(),
        dtype=pl.String,
    )
    return _Tokens(table, len(vocabulary), n_drugs, len(spellings))


def _titles(
    rng: np.random.Generator, count: int, tokens: _Tokens, mention_rate: float
) -> tuple[pl.Series, int, int]:
    """``count`` titles; returns (titles, titles with a mention, distinct planted pairs)."""
    n_vocab, n_drugs, n_spell = tokens.n_vocab, tokens.n_drugs, tokens.n_spell
    spell_base, trap_base = tokens.spell_base, tokens.trap_base
    lengths = rng.integers(8, 21, count)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    drawn = _zipf_choice(rng, n_vocab, int(offsets[-1]), shift=20.0).astype(np.int64)
    drawn[offsets[:-1]] += n_vocab  # capitalised first word

    # Plant 1-3 drug mentions in a ``mention_rate`` share of the titles, at random positions.
    mentioned = np.flatnonzero(rng.random(count) < mention_rate)
    per_title = rng.choice([1, 2, 3], size=len(mentioned), p=[0.8, 0.15, 0.05])
    rows = np.repeat(mentioned, per_title)
    positions = offsets[rows] + rng.integers(0, lengths[rows])
    drugs = _zipf_choice(rng, n_drugs, len(rows), shift=50.0)
    variants = rng.choice(n_spell, size=len(rows), p=[0.4, 0.2, 0.1, 0.1, 0.08, 0.04, 0.04, 0.04])
    drawn[positions] = spell_base + drugs * n_spell + variants
    # A later plant may overwrite an earlier one at the same position: count what survived.
    surviving = drawn[positions] == spell_base + drugs * n_spell + variants
    pairs = np.unique(rows[surviving] * n_drugs + drugs[surviving])
    with_mention = len(np.unique(rows[surviving]))

    trap_rows = np.flatnonzero(rng.random(count) < TRAP_RATE)
    trap_pos = offsets[trap_rows] + rng.integers(0, lengths[trap_rows])
    free = drawn[trap_pos] < spell_base  # never overwrite a planted mention
    drawn[trap_pos[free]] = trap_base + rng.integers(0, n_drugs, int(free.sum()))

    # Words → one list per title (offsets are the title boundaries) → joined by spaces.
    words = tokens.table.gather(pl.Series(drawn)).to_arrow()
    del drawn
    lists = pl.Series(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), words))
    titles = lists.list.join(" ")
    del lists, words
    titles = pl.select(
        pl.when(pl.Series(rng.random(count) < 0.6)).then(titles + ".").otherwise(titles)
    ).to_series()
    return titles, with_mention, len(pairs)


def _quoted(column: str) -> pl.Expr:
    """A CSV field, always quoted (as the real exports do); null → an empty field."""
    value = pl.col(column)
    return (
        pl.when(value.is_null())
        .then(pl.lit(""))
        .otherwise(
            pl.concat_str(pl.lit('"'), value.str.replace_all('"', '""', literal=True), pl.lit('"'))
        )
    )


def _with_defects(
    rng: np.random.Generator, frame: pl.DataFrame, defects: dict[str, int], csv: bool
) -> pl.DataFrame:
    """Add defect rows to ``frame`` (id, title, date, journal) and shuffle all rows.

    Duplicates (half exact, half without their id: the job folds both into the original),
    rows with a blank title or an impossible date, and, in a CSV, blank lines (``_blank``).
    """
    n = frame.height

    def pick(rate: float) -> pl.DataFrame:
        k = int(rng.binomial(n, rate))
        return frame[np.sort(rng.choice(n, size=k, replace=False)).tolist()] if k else frame[:0]

    duplicates = pick(DUPLICATE_RATE)
    idless = pl.Series(rng.random(duplicates.height) < 0.5)
    duplicates = duplicates.with_columns(pl.when(idless).then(None).otherwise("id").alias("id"))
    missing = pick(MISSING_TITLE_RATE)
    blank_titles = pl.Series(np.array(["", "   "])[rng.integers(0, 2, missing.height)])
    missing = missing.with_columns(pl.col("id") + "-m", blank_titles.alias("title"))
    bad_dates = pick(BAD_DATE_RATE).with_columns(
        pl.col("id") + "-d", pl.lit("31/02/2020").alias("date")
    )
    blanks = int(rng.binomial(n, BLANK_RATE)) if csv else 0
    for name, part in (
        ("duplicates", duplicates),
        ("missing_titles", missing),
        ("invalid_dates", bad_dates),
    ):
        defects[name] = defects.get(name, 0) + part.height
    defects["blank_lines"] = defects.get("blank_lines", 0) + blanks
    blank_rows = pl.DataFrame(schema=frame.schema).extend(
        pl.DataFrame({c: [None] * blanks for c in frame.columns}, schema=frame.schema)
    )
    out = pl.concat(
        [
            pl.concat([frame, duplicates, missing, bad_dates]).with_columns(
                pl.lit(False).alias("_blank")
            ),
            blank_rows.with_columns(pl.lit(True).alias("_blank")),
        ]
    )
    order = pl.Series("_order", rng.permutation(out.height))
    return out.with_columns(order).sort("_order").drop("_order")


def _write_csv(
    rng: np.random.Generator, frame: pl.DataFrame, path: Path, header: tuple[str, ...]
) -> None:
    """Write rows as the exports do: text quoted, blank lines as '', a tab, or only commas."""
    blank_text = pl.Series(np.array(["", "\t", ",,,"])[rng.integers(0, 3, frame.height)])
    lines = frame.select(
        pl.when(pl.col("_blank"))
        .then(blank_text)
        .otherwise(
            pl.concat_str(
                pl.col("id").fill_null(""),
                _quoted("title"),
                pl.col("date").fill_null(""),
                _quoted("journal"),
                separator=",",
            )
        )
    ).to_series()
    text = ",".join(header) + "\n" + (lines.str.join("\n").item() + "\n" if len(lines) else "")
    path.write_bytes(text.encode("utf-8"))


def _write_json(rng: np.random.Generator, frame: pl.DataFrame, path: Path) -> None:
    """Write a JSON array of records; ids are ints in some records and strings in others,
    a missing id is ``""``, and the array ends with a trailing comma, as in the real export."""
    as_int = pl.Series(rng.random(frame.height) < 0.5) & pl.col("id").str.contains(r"^\d+$")
    id_json = (
        pl.when(pl.col("id").is_null())
        .then(pl.lit('""'))
        .when(as_int)
        .then(pl.col("id"))
        .otherwise(pl.concat_str(pl.lit('"'), pl.col("id"), pl.lit('"')))
    )
    rest = pl.struct("title", "date", "journal").struct.json_encode().str.slice(1)
    records = frame.select(pl.concat_str(pl.lit('  {"id":'), id_json, pl.lit(","), rest))
    body = records.to_series().str.join(",\n").item() if frame.height else ""
    path.write_bytes(("[\n" + body + ",\n]\n").encode("utf-8"))


def _file_names(stem: str, ext: str, count: int, width: int = 2) -> list[str]:
    if count == 1:
        return [f"{stem}.{ext}"]
    return [f"{stem}_{i:0{width}d}.{ext}" for i in range(1, count + 1)]


def _chunks(frame: pl.DataFrame, count: int) -> list[pl.DataFrame]:
    bounds = np.linspace(0, frame.height, count + 1).astype(int)
    return [frame[int(a) : int(b)] for a, b in itertools.pairwise(bounds)]


def chunk_sizes(titles: int, chunk_titles: int) -> list[int]:
    """Titles per chunk: as few chunks of at most ``chunk_titles`` as possible, sizes even."""
    count = max(1, -(-titles // chunk_titles))
    return [titles * (k + 1) // count - titles * k // count for k in range(count)]


#: Titles drawn at once. A chunk costs ~1 GB per million titles at its peak (token indices,
#: words, titles, then the text of a file), so 2M titles keep the generator near 2-3 GB
#: whatever the corpus size.
CHUNK_TITLES = 2_000_000

#: (manifest key, file stem, extension, CSV header) of each publication source, in order.
_LAYOUT = (
    ("pubmed_csv", "pubmed", "csv", ("id", "title", "date", "journal")),
    ("pubmed_json", "pubmed", "json", ()),
    ("clinical_trials", "clinical_trials", "csv", ("id", "scientific_title", "date", "journal")),
)


def _draw_chunk(
    rng: np.random.Generator,
    count: int,
    first_id: int,
    tokens: _Tokens,
    journal_names: list[str],
    mention_rate: float,
) -> tuple[dict[str, pl.DataFrame], int, int]:
    """``count`` publications split into the three sources (id, title, date, journal); ids are
    ``first_id + 10_000`` onwards, shuffled. Also returns the planted counts of :func:`_titles`."""
    title_text, with_mention, planted = _titles(rng, count, tokens, mention_rate)
    pubs = pl.DataFrame(
        {
            "title": title_text,
            "journal": pl.Series(journal_names).gather(
                pl.Series(_zipf_choice(rng, len(journal_names), count, shift=5.0))
            ),
        }
    )
    del title_text
    # Sources take consecutive slices: PubMed CSV, PubMed JSON, clinical trials.
    cut1 = int(count * SOURCE_SHARES[0])
    cut2 = cut1 + int(count * SOURCE_SHARES[1])
    number = pl.Series(rng.permutation(count) + 10_000 + first_id)
    pubs = pubs.with_columns(number.cast(pl.String).alias("id"))
    pubmed = pubs[:cut2].with_columns(_date_strings(rng, cut2, (0.6, 0.3)))
    trials = pubs[cut2:].with_columns(
        pl.concat_str(pl.lit("NCT"), pl.col("id").str.zfill(8)).alias("id"),
        _date_strings(rng, count - cut2, (0.15, 0.15)),
    )
    columns = ["id", "title", "date", "journal"]
    parts = {
        "pubmed_csv": pubmed[:cut1].select(columns),
        "pubmed_json": pubmed[cut1:].select(columns),
        "clinical_trials": trials.select(columns),
    }
    return parts, with_mention, planted


def _write_chunk(
    rng: np.random.Generator,
    parts: dict[str, pl.DataFrame],
    names: dict[str, list[str]],
    out_dir: Path,
    manifest: Manifest,
) -> None:
    """Write each source of one chunk over its own ``names``, defects added per file."""
    for part, _stem, ext, header in _LAYOUT:
        rows = 0
        for name, piece in zip(names[part], _chunks(parts[part], len(names[part])), strict=True):
            frame = _with_defects(rng, piece, manifest.defects, csv=ext == "csv")
            rows += frame.height
            if ext == "csv":
                _write_csv(rng, frame, out_dir / name, header)
            else:
                _write_json(rng, frame.drop("_blank"), out_dir / name)
        manifest.rows[part] = manifest.rows.get(part, 0) + rows


def generate(
    out_dir: Path,
    *,
    titles: int,
    drugs: int,
    files_per_source: int = 1,
    mention_rate: float = 0.3,
    seed: int = 42,
    journals: int = 300,
    vocabulary: int = 8000,
    chunk_titles: int = CHUNK_TITLES,
) -> Manifest:
    """Write a synthetic ``--data-dir`` into ``out_dir``; the same arguments give the same bytes.

    Titles are drawn ``chunk_titles`` at a time, so memory stays bounded whatever ``titles``.
    Every chunk shares the vocabulary, drugs, journals and token table; the first chunk draws
    from the corpus rng (a one-chunk corpus is what this function always wrote), chunk ``k``
    from its own rng seeded ``[seed, k]``. Ids follow on from one chunk to the next (unique
    across the corpus), and each chunk writes its rows to its own
    ``ceil(files_per_source / chunks)`` files per publication source, numbered on across chunks,
    so each source has ``files_per_source`` files or more. Defects (duplicates, id-less copies,
    blank titles, bad dates, blank lines) are drawn per file, hence within a chunk; the manifest
    sums rows, defects and planted mentions over the chunks.
    """
    if titles < 0 or drugs < 1 or files_per_source < 1 or not 0 <= mention_rate <= 1:
        raise ValueError("expected titles >= 0, drugs >= 1, files >= 1, 0 <= mention_rate <= 1")
    if chunk_titles < 1:
        raise ValueError("expected chunk_titles >= 1")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(seed, titles, drugs, files_per_source, mention_rate)

    words = _syllable_words(rng, vocabulary, _WORD_ENDS)
    common = np.array(_COMMON, dtype=object)
    vocab = np.concatenate([common, words[~np.isin(words, common)]])[:vocabulary]
    names, plain = _drug_names(rng, drugs)
    # No vocabulary word may spell a drug name (or a word of one): a mention is always planted.
    drug_words = np.concatenate(
        [plain.astype(str), np.char.partition(plain.astype(str), " ")[:, 0]]
    )
    vocab = vocab[~np.isin(vocab.astype(str), drug_words)]
    journal_names = _journals(rng, vocab, journals)
    tokens = _token_table(rng, vocab, plain, names)

    sizes = chunk_sizes(titles, chunk_titles)
    per_chunk = -(-files_per_source // len(sizes))
    total = per_chunk * len(sizes)
    width = 2 if len(sizes) == 1 else max(2, len(str(total)))
    manifest.files["drugs"] = _file_names("drugs", "csv", files_per_source)
    for part, stem, ext, _header in _LAYOUT:
        manifest.files[part] = _file_names(stem, ext, total, width)

    first_id = 0
    for index, size in enumerate(sizes):
        # The first chunk continues the corpus rng, so that a one-chunk corpus is unchanged.
        chunk_rng = rng if index == 0 else np.random.default_rng([seed, index])
        parts, with_mention, planted = _draw_chunk(
            chunk_rng, size, first_id, tokens, journal_names, mention_rate
        )
        manifest.titles_with_mentions += with_mention
        manifest.planted_mentions += planted
        if index == 0:
            drug_frame = pl.DataFrame({"atccode": _atc_codes(rng, drugs), "drug": names.tolist()})
            for name, piece in zip(
                manifest.files["drugs"], _chunks(drug_frame, files_per_source), strict=True
            ):
                piece.write_csv(out_dir / name)
            manifest.rows["drugs"] = drugs
        window = slice(index * per_chunk, (index + 1) * per_chunk)
        chunk_names = {part: manifest.files[part][window] for part, *_ in _LAYOUT}
        _write_chunk(chunk_rng, parts, chunk_names, out_dir, manifest)
        del parts
        first_id += size
    (out_dir / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--drugs", type=int, default=1_000)
    parser.add_argument("--files", type=int, default=1, help="files per source")
    parser.add_argument("--mention-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--chunk-titles",
        type=int,
        default=CHUNK_TITLES,
        help="titles drawn at once (bounds memory; a corpus of one chunk is unchanged)",
    )
    args = parser.parse_args(argv)
    manifest = generate(
        args.out_dir,
        titles=args.titles,
        drugs=args.drugs,
        files_per_source=args.files,
        mention_rate=args.mention_rate,
        seed=args.seed,
        chunk_titles=args.chunk_titles,
    )
    print(json.dumps({"rows": manifest.rows, "defects": manifest.defects}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
