"""Matching rules, with examples and properties checked against a plain-Python oracle."""

from __future__ import annotations

import re
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipeline.mentions import matching
from datapipeline.mentions.matching import drug_patterns, find_mentions


def mentions(titles: list[str], names: list[str]) -> set[tuple[int, str]]:
    drugs, _ = drug_patterns(
        pl.DataFrame(
            {"drug_id": names, "name": names}, schema={"drug_id": pl.String, "name": pl.String}
        )
    )
    titles_frame = pl.DataFrame(
        {"pub_id": list(range(len(titles))), "title": titles},
        schema={"pub_id": pl.Int64, "title": pl.String},
    )
    return set(find_mentions(titles_frame, drugs).rows())


@pytest.mark.parametrize(
    ("title", "name", "found"),
    [
        ("Ethanol-induced liver injury", "ETHANOL", True),
        ("Epinephrine/atropine in arrest", "ATROPINE", True),
        ("Epinephrine/atropine in arrest", "EPINEPHRINE", True),
        ("effects of methanol", "ETHANOL", False),
        ("ethanolamine levels", "ETHANOL", False),
        ("bétaméthasone after delivery", "BETAMETHASONE", True),
        ("BETAMETHASONE after delivery", "Bétaméthasone", True),
        ("Tranexamic\t  acid versus placebo", "TRANEXAMIC ACID", True),
        ("Tranexamic-acid versus placebo", "TRANEXAMIC ACID", True),
        ("tranexamicacid", "TRANEXAMIC ACID", False),
        ("amoxicillin–clavulanate", "AMOXICILLIN", True),  # en dash
        ("(Diphenhydramine)", "DIPHENHYDRAMINE", True),
        ("Vitamin B12 deficiency", "VITAMIN B12", True),
        ("Vitamin B123", "VITAMIN B12", False),
        ("aspiring doctors", "ASPIRIN", False),
    ],
)
def test_whole_word_case_and_accent_insensitive(title: str, name: str, found: bool) -> None:
    assert mentions([title], [name]) == ({(0, name)} if found else set())


def test_a_drug_is_counted_once_per_title_however_often_it_occurs() -> None:
    assert mentions(["ethanol, ETHANOL and Ethanol-free"], ["ETHANOL"]) == {(0, "ETHANOL")}


def test_adjacent_and_nested_names_are_all_found() -> None:
    found = mentions(
        ["atropine epinephrine tranexamic acid"],
        ["ATROPINE", "EPINEPHRINE", "TRANEXAMIC ACID", "ACID"],
    )
    assert found == {(0, "ATROPINE"), (0, "EPINEPHRINE"), (0, "TRANEXAMIC ACID"), (0, "ACID")}


def test_names_without_letters_are_rejected() -> None:
    _, rejected = drug_patterns(pl.DataFrame({"drug_id": ["x"], "name": ["--"]}))
    assert rejected["_reason"].to_list() == ["name_without_letters_or_digits"]


def test_no_drugs_or_no_titles_give_no_mentions() -> None:
    assert mentions(["ethanol"], []) == set()
    assert mentions([], ["ETHANOL"]) == set()


# --- properties -------------------------------------------------------------------------


def oracle_normal(text: str) -> str:
    """The rule in plain Python: strip accents, lower case, non-alphanumerics are one space."""
    stripped = "".join(
        c
        for c in unicodedata.normalize("NFKD", text)
        if unicodedata.category(c) not in ("Mn", "Cf")
    )
    return " ".join(re.sub(r"[\W_]+", " ", stripped.lower()).split())


def oracle(titles: list[str], names: list[str]) -> set[tuple[int, str]]:
    found = set()
    for i, title in enumerate(titles):
        padded = f" {oracle_normal(title)} "
        for name in names:
            pattern = oracle_normal(name)
            if pattern and f" {pattern} " in padded:
                found.add((i, name))
    return found


ALPHABET = "abeé -/–,.()\t"
words = st.text(alphabet=ALPHABET, min_size=0, max_size=30)
names = st.lists(
    st.text(alphabet="abeé -", min_size=1, max_size=6),
    min_size=0,
    max_size=6,
    unique_by=oracle_normal,
)


@settings(max_examples=300, deadline=None)
@given(titles=st.lists(words, max_size=8), names=names)
def test_matches_the_plain_python_oracle(titles: list[str], names: list[str]) -> None:
    names = [n for n in names if oracle_normal(n)]
    assert mentions(titles, names) == oracle(titles, names)


name_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)
boundary = st.sampled_from([" ", "-", "/", ", ", " (", "–", "\t", ". "])


@settings(max_examples=200, deadline=None)
@given(
    name=name_word,
    left=st.text(alphabet="xyz ", max_size=10),
    right=st.text(alphabet="xyz ", max_size=10),
    b1=boundary,
    b2=boundary,
)
def test_a_name_between_boundaries_is_found_in_any_case(
    name: str, left: str, right: str, b1: str, b2: str
) -> None:
    title = f"{left}{b1}{name.upper()}{b2}{right}"
    assert (0, name) in mentions([title], [name])


@settings(max_examples=200, deadline=None)
@given(name=name_word, prefix=st.text(alphabet="qz", min_size=1, max_size=3))
def test_a_name_inside_a_longer_word_is_not_found(name: str, prefix: str) -> None:
    assert mentions([f"{prefix}{name} {name}{prefix}"], [name]) == set()


# --- cases the word-by-word matcher could get wrong ---------------------------------------


@pytest.mark.parametrize(
    ("titles", "names", "expected"),
    [
        # the first word of a longer name, without the rest
        (["tranexamic solution acid"], ["TRANEXAMIC ACID"], set()),
        (["tranexamic"], ["TRANEXAMIC ACID"], set()),
        (["tranexamic acidosis"], ["TRANEXAMIC ACID"], set()),
        # a name that starts another one; a name inside a longer one
        (
            ["tranexamic acid sodium"],
            ["TRANEXAMIC", "TRANEXAMIC ACID", "TRANEXAMIC ACID SODIUM", "ACID SODIUM"],
            {
                (0, "TRANEXAMIC"),
                (0, "TRANEXAMIC ACID"),
                (0, "TRANEXAMIC ACID SODIUM"),
                (0, "ACID SODIUM"),
            },
        ),
        (["tranexamic acid"], ["TRANEXAMIC ACID SODIUM", "TRANEXAMIC"], {(0, "TRANEXAMIC")}),
        # repeated words
        (["acid acid"], ["ACID ACID", "ACID"], {(0, "ACID ACID"), (0, "ACID")}),
        (["acid"], ["ACID ACID"], set()),
        (["acid x acid"], ["ACID ACID"], set()),
        (
            ["acid acid acid"],
            ["ACID ACID ACID", "ACID ACID"],
            {(0, "ACID ACID ACID"), (0, "ACID ACID")},
        ),
        (["a acid acid"], ["A ACID ACID ACID"], set()),
        # a title ends in a name's first word: the next title does not continue it
        (["study of tranexamic", "acid levels"], ["TRANEXAMIC ACID"], set()),
        (["study of tranexamic.", "Acid levels"], ["TRANEXAMIC ACID"], set()),
        (["study of tranexamic", "", "acid levels"], ["TRANEXAMIC ACID"], set()),
        (["vitamin", "b12"], ["VITAMIN B12", "B12"], {(1, "B12")}),
        # punctuation runs (empty words) between the words of a name
        (["tranexamic -- acid"], ["TRANEXAMIC ACID"], {(0, "TRANEXAMIC ACID")}),
        (["Tranexamic, (acid)!"], ["TRANEXAMIC ACID"], {(0, "TRANEXAMIC ACID")}),
        (["--tranexamic/// acid--"], ["TRANEXAMIC ACID"], {(0, "TRANEXAMIC ACID")}),
        (["tranexamic --"], ["TRANEXAMIC ACID"], set()),
        # non-ASCII titles take the full normal form
        (["Acide tranéxamique"], ["ACIDE TRANEXAMIQUE"], {(0, "ACIDE TRANEXAMIQUE")}),
        (["Étude — tranexamic\u00a0acid"], ["TRANEXAMIC ACID"], {(0, "TRANEXAMIC ACID")}),
        (["ÉTUDE tranexamic", "acid"], ["TRANEXAMIC ACID"], set()),
        (["straße acid"], ["STRASSE ACID", "STRAßE ACID"], {(0, "STRAßE ACID")}),
        (["ﬁbrinogen"], ["FIBRINOGEN"], {(0, "FIBRINOGEN")}),  # ligature: NFKD
        # a title mentioning a drug twice: one pair
        (
            ["tranexamic acid, then TRANEXAMIC-ACID and acid"],
            ["TRANEXAMIC ACID", "ACID"],
            {(0, "TRANEXAMIC ACID"), (0, "ACID")},
        ),
        # null and empty titles mention nothing
        ([None, "", "acid"], ["ACID"], {(2, "ACID")}),
    ],
)
def test_word_by_word_edge_cases(
    titles: list[str | None], names: list[str], expected: set[tuple[int, str]]
) -> None:
    assert mentions(titles, names) == expected  # type: ignore[arg-type]
    assert expected == oracle([t or "" for t in titles], names)


def test_two_drugs_with_one_pattern_are_both_found() -> None:
    drugs, _ = drug_patterns(
        pl.DataFrame({"drug_id": ["d1", "d2"], "name": ["Tranexamic acid", "TRANEXAMIC-ACID"]})
    )
    titles = pl.DataFrame({"pub_id": [7], "title": ["tranexamic acid"]})
    assert sorted(find_mentions(titles, drugs).rows()) == [(7, "d1"), (7, "d2")]


def test_patterns_not_in_normal_form_match_nothing() -> None:
    drugs = pl.DataFrame(
        {"drug_id": ["e", "d", "l", "u"], "pattern": ["", "acid  b", " acid", "ACID"]}
    )
    titles = pl.DataFrame({"pub_id": [1, 2], "title": ["acid b", "x  y"]})
    assert find_mentions(titles, drugs).is_empty()


def test_ids_keep_their_types() -> None:
    drugs = pl.DataFrame(
        {"drug_id": [3], "pattern": ["acid"]}, schema={"drug_id": pl.Int16, "pattern": pl.String}
    )
    titles = pl.DataFrame({"pub_id": ["p"], "title": ["acid"]})
    found = find_mentions(titles, drugs)
    assert found.schema == pl.Schema({"pub_id": pl.String, "drug_id": pl.Int16})
    assert found.rows() == [("p", 3)]


def test_slices_on_threads_give_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Titles cut into slices (one per thread): a name split across two slices is not found."""
    titles = ["x tranexamic", "acid y", "tranexamic acid", "acid", "tranexamic", "acid acid"] * 5
    names = ["TRANEXAMIC ACID", "ACID", "ACID ACID", "TRANEXAMIC"]
    expected = oracle(titles, names)
    monkeypatch.setattr(matching, "MIN_SLICE", 1)
    for threads, most in ((2, 100), (3, 100), (7, 100), (1, 4), (2, 3)):
        monkeypatch.setattr(matching, "MATCH_THREADS", threads)
        monkeypatch.setattr(matching, "MAX_SLICE", most)
        assert mentions(titles, names) == expected


VOCABULARY = ["acid", "a", "tranexamic", "b12", "é", "ﬁ", "straße", "x"]
SEPARATORS = [" ", "  ", "-", " -- ", ", (", "/", "\t", "–", ".", ""]


@st.composite
def worded_titles(draw: st.DrawFn) -> str:
    words_ = draw(st.lists(st.sampled_from(VOCABULARY), max_size=8))
    seps = draw(
        st.lists(st.sampled_from(SEPARATORS), min_size=len(words_) + 1, max_size=len(words_) + 1)
    )
    return "".join(s + w for s, w in zip(seps, [*words_, ""], strict=True))


worded_names = st.lists(
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3).map(" ".join),
    max_size=8,
    unique_by=oracle_normal,
)


@settings(max_examples=300, deadline=None)
@given(titles=st.lists(worded_titles(), max_size=10), names=worded_names)
def test_multi_word_names_match_the_oracle(titles: list[str], names: list[str]) -> None:
    """Titles and names from a few words, so that names of several words, repeated words and
    names starting other names are frequent."""
    assert mentions(titles, names) == oracle(titles, names)
