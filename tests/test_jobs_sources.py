"""The jobs with the new source formats: --data-dir discovery, the main job, streaming import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapipeline import importing, jobs
from datapipeline.config import Source
from datapipeline.errors import ConfigError
from datapipeline.lake import Lake
from datapipeline.run import sources

PUBMED_XML = """<?xml version="1.0"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation><PMID>101</PMID><Article><Journal><JournalIssue><PubDate>
<Year>2019</Year><Month>Mar</Month></PubDate></JournalIssue><Title>Journal of Sleep</Title>
</Journal><ArticleTitle>Budesonide and <i>ethanol</i> interactions</ArticleTitle></Article>
</MedlineCitation></PubmedArticle>
</PubmedArticleSet>
"""


def _study(nct: str, title: str, start: str) -> dict[str, object]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "officialTitle": title},
            "statusModule": {"startDateStruct": {"date": start}},
        }
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "drugs.csv").write_text("atccode,drug\nR03,BUDESONIDE\nV03,ETHANOL\nX01,PLACEBO\n")
    (folder / "pubmed_baseline.xml").write_text(PUBMED_XML)
    (folder / "NCT00000001.json").write_text(
        json.dumps(_study("NCT00000001", "Ethanol trial", "2020-05"))
    )
    page = {
        "studies": [_study("NCT00000002", "Budesonide trial", "2021-01-02")],
        "nextPageToken": "x",
    }
    (folder / "ctgov_page.json").write_text(json.dumps(page))
    return folder


def test_data_dir_recognises_pubmed_xml_and_ctgov_json(data_dir: Path) -> None:
    found = {
        (Path(s.source).name, s.source_type, s.dest_table)
        for s in sources.discover_sources(data_dir)
    }
    assert found == {
        ("drugs.csv", "csv", "drugs"),
        ("pubmed_baseline.xml", "pubmed_xml", "pubmed"),
        ("NCT00000001.json", "ctgov_json", "clinical_trials"),
        ("ctgov_page.json", "ctgov_json", "clinical_trials"),
    }


def test_gzipped_pubmed_is_recognised_and_json_names_do_not_collide(tmp_path: Path) -> None:
    for name in ("drugs.csv", "pubmed24n0001.xml.gz", "pubmed.json", "clinical_trials.csv"):
        (tmp_path / name).write_text("x")
    types = {Path(s.source).name: s.source_type for s in sources.discover_sources(tmp_path)}
    assert types == {
        "drugs.csv": "csv",
        "pubmed24n0001.xml.gz": "pubmed_xml",
        "pubmed.json": "json",
        "clinical_trials.csv": "csv",
    }


@pytest.mark.e2e
def test_the_main_job_on_the_real_formats(data_dir: Path, tmp_path: Path) -> None:
    report = jobs.run(data_dir, str(tmp_path / "lake"), tmp_path / "out")
    accounts = report.to_dict()["sources"]
    assert accounts["pubmed"]["published"] == 1  # type: ignore[index]
    assert accounts["clinical_trials"]["published"] == 2  # type: ignore[index]
    # BUDESONIDE: the article and one trial; ETHANOL: the article and the other trial
    assert report.graph["drug_publication_edges"] == 4
    assert report.graph["drugs_without_mentions"] == ["PLACEBO"]


def test_import_source_streams_files_and_parts_of_all_readers_concatenate(
    data_dir: Path, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    csv = data_dir / "pubmed.csv"
    csv.write_text("id,title,date,journal\n7,Ethanol,01/01/2020,J\n")
    for source_id, source_type, path in (
        ("xml", "pubmed_xml", data_dir / "pubmed_baseline.xml"),
        ("csv", "csv", csv),
    ):
        source = Source(
            source_id=source_id, source_type=source_type, source=str(path), dest_table="pubmed"
        )
        assert importing.import_source(source, lake) == 1
    table = lake.read_table("pubmed")
    assert sorted(table.column("source_id").to_pylist()) == ["101", "7"]


def test_a_watermark_on_a_file_source_is_refused(data_dir: Path, tmp_path: Path) -> None:
    source = Source(
        source_id="x",
        source_type="csv",
        source=str(data_dir / "drugs.csv"),
        dest_table="drugs",
        options={"watermark": "atccode"},
    )
    with pytest.raises(ConfigError, match="applies to database sources"):
        importing.import_source(source, Lake(tmp_path / "lake"))
