"""The BigQuery warehouse at its boundary: the REST requests its client sends.

BigQuery cannot be reached from the tests. A fake endpoint on loopback records what the
google-cloud-bigquery client sends and answers with minimal valid job and table resources, so
the client completes and the test can check the load job's configuration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from datapipeline import importing
from datapipeline.config import Warehouse as WarehouseConfig
from datapipeline.errors import ConfigError, WarehouseError
from datapipeline.lake import Lake
from datapipeline.run import sources
from datapipeline.warehouse import load_lake
from datapipeline.warehouse.bigquery_backend import BigQueryWarehouse

PROJECT, DATASET, LOCATION = "my-project", "pharma", "EU"


@dataclass
class FakeBigQuery:
    """What the fake endpoint received, and the tables it serves for reads."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def inserted_jobs(self) -> list[dict[str, Any]]:
        return [b for m, p, b in self.requests if m == "POST" and p.endswith("/jobs")]


def _handler(state: FakeBigQuery) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self, what: str) -> None:
            error = {"reason": "notFound", "message": f"Not found: {what}"}
            self._reply(
                404, {"error": {"code": 404, "message": error["message"], "errors": [error]}}
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            path = urlsplit(self.path).path
            state.requests.append(("POST", path, body))
            if not path.endswith("/jobs"):
                return self._not_found(path)
            destination = body["configuration"]["load"]["destinationTable"]
            if destination["datasetId"] not in {DATASET}:
                return self._not_found(f"Dataset {PROJECT}:{destination['datasetId']}")
            reference = body["jobReference"]
            job = {
                **body,
                "kind": "bigquery#job",
                "id": f"{reference['projectId']}:{reference.get('location')}.{reference['jobId']}",
                "status": {"state": "RUNNING"},
                "statistics": {"creationTime": "1735689600000", "startTime": "1735689600100"},
            }
            state.jobs[reference["jobId"]] = job
            self._reply(200, job)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            state.requests.append(("GET", path, parse_qs(parts.query)))
            name = path.rsplit("/", 1)[-1]
            if "/jobs/" in path and name in state.jobs:
                job = state.jobs[name]  # polled: the load is done
                job["status"] = {"state": "DONE"}
                job["statistics"]["endTime"] = "1735689601000"
                job["statistics"]["load"] = {"outputRows": "5", "inputFiles": "1"}
                return self._reply(200, job)
            if path.endswith("/data") and path.split("/")[-2] in state.tables:
                return self._reply(200, state.tables[path.split("/")[-2]]["data"])
            if "/tables/" in path and name in state.tables:
                return self._reply(200, state.tables[name]["resource"])
            self._not_found(path)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fake_bigquery() -> Iterator[FakeBigQuery]:
    state = FakeBigQuery()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def _warehouse(fake: FakeBigQuery, dataset: str = DATASET) -> BigQueryWarehouse:
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
        location=LOCATION,
    )
    config = WarehouseConfig(
        backend="bigquery", project=PROJECT, dataset=dataset, location=LOCATION
    )
    return BigQueryWarehouse(config, client=client)


@pytest.fixture
def gcs_lake(tiny_inputs: Path, gcs_bucket: str) -> Lake:
    lake = Lake(f"gs://{gcs_bucket}/imported_data")
    for source in sources.discover_sources(tiny_inputs):
        importing.import_source(source, lake)
    return lake


def test_load_job_configuration(fake_bigquery: FakeBigQuery, gcs_lake: Lake) -> None:
    with _warehouse(fake_bigquery) as warehouse:
        rows = warehouse.load_table("drugs", gcs_lake, "drugs")
    assert rows == 5  # the job's outputRows, as BigQuery reports it

    (job,) = fake_bigquery.inserted_jobs()
    load = job["configuration"]["load"]
    assert load["sourceUris"] == [f"gs://{gcs_lake.bucket}/imported_data/drugs/*.parquet"]
    assert load["sourceFormat"] == "PARQUET"
    assert load["writeDisposition"] == "WRITE_TRUNCATE"
    assert load["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": DATASET,
        "tableId": "drugs",
    }
    # The schema is the lake's: canonical columns as strings, provenance row as an integer.
    assert [(f["name"], f["type"]) for f in load["schema"]["fields"]] == [
        ("atccode", "STRING"),
        ("name", "STRING"),
        ("_source_file", "STRING"),
        ("_source_row", "INTEGER"),
    ]
    assert job["jobReference"]["projectId"] == PROJECT
    assert job["jobReference"]["location"] == LOCATION
    assert job["jobReference"]["jobId"].startswith("datapipeline_load_drugs_")
    # The client polled the job, in its location, until BigQuery said DONE.
    polls = [q for m, p, q in fake_bigquery.requests if m == "GET" and "/jobs/" in p]
    assert polls
    assert polls[-1]["location"] == [LOCATION]


def test_load_lake_sends_one_job_per_table(fake_bigquery: FakeBigQuery, gcs_lake: Lake) -> None:
    with _warehouse(fake_bigquery) as warehouse:
        load_lake(warehouse, gcs_lake)
    destinations = [
        j["configuration"]["load"]["destinationTable"]["tableId"]
        for j in fake_bigquery.inserted_jobs()
    ]
    assert destinations == ["clinical_trials", "drugs", "pubmed"]


def test_missing_dataset_is_one_clear_line(fake_bigquery: FakeBigQuery, gcs_lake: Lake) -> None:
    warehouse = _warehouse(fake_bigquery, dataset="absent")
    with warehouse, pytest.raises(WarehouseError) as caught:
        warehouse.load_table("drugs", gcs_lake, "drugs")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bigquery {PROJECT}.absent: not found while trying to load")
    assert f"bq mk --dataset --location={LOCATION} {PROJECT}:absent" in message
    assert not caught.value.transient


def test_local_lake_cannot_be_loaded(fake_bigquery: FakeBigQuery, tiny_inputs: Path, tmp_path):
    lake = Lake(tmp_path / "lake")
    for source in sources.discover_sources(tiny_inputs):
        importing.import_source(source, lake)
    warehouse = _warehouse(fake_bigquery)
    with warehouse, pytest.raises(WarehouseError, match="a local lake cannot be loaded into"):
        warehouse.load_table("drugs", lake, "drugs")
    assert fake_bigquery.requests == []


def test_read_table_restores_provenance_order(fake_bigquery: FakeBigQuery) -> None:
    fields = [
        {"name": "name", "type": "STRING", "mode": "NULLABLE"},
        {"name": "_source_file", "type": "STRING", "mode": "NULLABLE"},
        {"name": "_source_row", "type": "INTEGER", "mode": "NULLABLE"},
    ]
    rows = [("B", "drugs.csv", "2"), ("C", "drugs.csv", "10"), ("A", "drugs.csv", "1")]
    fake_bigquery.tables["drugs"] = {
        "resource": {
            "kind": "bigquery#table",
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": "drugs"},
            "schema": {"fields": fields},
            "numRows": str(len(rows)),
            "type": "TABLE",
        },
        "data": {
            "kind": "bigquery#tableDataList",
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": v} for v in row]} for row in rows],
        },
    }
    with _warehouse(fake_bigquery) as warehouse:
        table = warehouse.read_table("drugs")
    assert table.column("name").to_pylist() == ["A", "B", "C"]  # 1, 2, 10: numeric order
    assert table.column("_source_row").to_pylist() == [1, 2, 10]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (WarehouseConfig(backend="bigquery", dataset="d"), "warehouse.project"),
        (WarehouseConfig(backend="bigquery", project="p"), "warehouse.dataset"),
        (WarehouseConfig(backend="bigquery", project="p", dataset="bad-name"), "warehouse.dataset"),
    ],
)
def test_incomplete_config_is_a_config_error(config: WarehouseConfig, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        BigQueryWarehouse(config)
