"""Matching rules, with examples and properties checked against a plain-Python oracle."""

from __future__ import annotations

import re
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
