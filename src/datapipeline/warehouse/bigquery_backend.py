"""The production warehouse: BigQuery, loaded by load jobs from the lake's Parquet on GCS.

Each lake table ``gs://bucket/prefix/TABLE/*.parquet`` is loaded into
``project.dataset.TABLE`` with ``WRITE_TRUNCATE``: the table is replaced whole, atomically, by
BigQuery. Project, dataset and location come from the environment's ``warehouse`` config;
credentials from the environment (Application Default Credentials), never from config files.
The client library retries transient API errors itself; what still fails is raised as one line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datapipeline.config import Warehouse as WarehouseConfig
from datapipeline.errors import ConfigError, WarehouseError
from datapipeline.extras import install_hint
from datapipeline.lake import PARQUET_SUFFIX, Lake, validate_name
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW
from datapipeline.warehouse.base import Warehouse, register

if TYPE_CHECKING:
    from google.cloud import bigquery

#: Seconds to wait for one load or query job.
JOB_TIMEOUT = 900.0
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")

# Arrow types of lake columns → BigQuery column types (the lake holds strings and integers).
_BQ_TYPES: dict[pa.DataType, str] = {
    pa.string(): "STRING",
    pa.large_string(): "STRING",
    pa.string_view(): "STRING",
    pa.int64(): "INTEGER",
    pa.int32(): "INTEGER",
    pa.float64(): "FLOAT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def _bigquery() -> Any:
    try:
        from google.cloud import bigquery
    except ImportError:
        raise ConfigError(
            "warehouse.backend: bigquery needs the Google Cloud client libraries: "
            + install_hint("gcp")
        ) from None
    return bigquery


def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None) or []
    reasons = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(f"{message}{' (' + reasons + ')' if reasons else ''}".split())[:300]


class BigQueryWarehouse(Warehouse):
    """Lake tables as BigQuery tables of ``project.dataset``."""

    backend = "bigquery"

    def __init__(self, config: WarehouseConfig, client: bigquery.Client | None = None) -> None:
        missing = [k for k in ("project", "dataset") if not getattr(config, k)]
        if missing:
            raise ConfigError(
                f"warehouse.{missing[0]}: required by the bigquery backend (set it in the "
                "environment's warehouse section of config/dag_config.yaml)"
            )
        if not _DATASET.match(config.dataset or ""):
            raise ConfigError(
                f"warehouse.dataset: {config.dataset!r}: expected letters, digits and '_'"
            )
        self.project: str = config.project or ""
        self.dataset: str = config.dataset or ""
        self.location = config.location
        self._client = client

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client, created on first use with the environment's credentials."""
        if self._client is None:
            bigquery = _bigquery()
            import google.auth.exceptions

            try:
                self._client = bigquery.Client(project=self.project, location=self.location)
            except google.auth.exceptions.DefaultCredentialsError:
                raise WarehouseError(
                    f"bigquery {self.project}: no Google credentials found: run 'gcloud auth "
                    "application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
                ) from None
        return self._client

    def describe(self) -> str:
        return f"bigquery {self.project}.{self.dataset}"

    def table_id(self, name: str) -> str:
        """``project.dataset.name``."""
        return f"{self.project}.{self.dataset}.{validate_name(name, 'table')}"

    def _error(self, exc: Exception, doing: str) -> WarehouseError:
        from google.api_core import exceptions as api

        where = f"bigquery {self.project}.{self.dataset}"
        if isinstance(exc, api.NotFound):
            location = f"--location={self.location} " if self.location else ""
            return WarehouseError(
                f"{where}: not found while trying to {doing}: {_one_line(exc)} (create the "
                f"dataset: bq mk --dataset {location}{self.project}:{self.dataset})"
            )
        if isinstance(exc, api.Forbidden | api.Unauthorized):
            return WarehouseError(
                f"{where}: permission denied to {doing}: {_one_line(exc)} (the credentials "
                "in use need roles/bigquery.jobUser on the project, roles/bigquery.dataEditor "
                "on the dataset and read access to the lake's bucket)"
            )
        error = WarehouseError(f"{where}: cannot {doing}: {_one_line(exc)}")
        error.transient = isinstance(
            exc,
            api.ServerError | api.TooManyRequests | api.RetryError | ConnectionError | TimeoutError,
        )
        return error

    def _schema(self, lake: Lake, table: str) -> list[Any] | None:
        """The destination columns from the lake's Parquet schema (``None``: let BigQuery infer)."""
        bigquery = _bigquery()
        fields = []
        for field in lake.schema(table):
            bq_type = _BQ_TYPES.get(field.type)
            if bq_type is None:
                return None
            fields.append(bigquery.SchemaField(field.name, bq_type, mode="NULLABLE"))
        return fields

    def load_table(self, name: str, lake: Lake, table: str) -> int:
        if not lake.is_gcs:
            raise WarehouseError(
                f"{lake.url}: a local lake cannot be loaded into BigQuery, which loads from "
                "Cloud Storage: import into a gs:// lake (datapipeline import --bucket_name "
                "BUCKET) and load that (datapipeline load --lake gs://BUCKET/imported_data)"
            )
        bigquery = _bigquery()
        job_config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            schema=self._schema(lake, table),
        )
        source = f"{lake.table_uri(table)}/*{PARQUET_SUFFIX}"
        try:
            job = self.client.load_table_from_uri(
                source,
                self.table_id(name),
                job_config=job_config,
                location=self.location,
                job_id_prefix=f"datapipeline_load_{name}_",
            )
            job.result(timeout=JOB_TIMEOUT)
        except Exception as exc:
            if not _is_api_error(exc):
                raise
            raise self._error(exc, f"load {source} into {self.table_id(name)}") from None
        return int(job.output_rows or 0)

    def query(self, sql: str, params: dict[str, str] | None = None) -> pa.Table:
        job_config = None
        if params:
            from datapipeline.sql_queries import bind

            bigquery = _bigquery()
            sql = bind(sql, "bigquery")
            job_config = bigquery.QueryJobConfig(
                default_dataset=f"{self.project}.{self.dataset}",
                query_parameters=[
                    bigquery.ScalarQueryParameter(name, "STRING", value)
                    for name, value in params.items()
                ],
            )
        try:
            job = self.client.query(sql, location=self.location, job_config=job_config)
            return job.result(timeout=JOB_TIMEOUT).to_arrow(create_bqstorage_client=False)
        except Exception as exc:
            if not _is_api_error(exc):
                raise
            raise self._error(exc, "run the query") from None

    def read_table(self, name: str) -> pa.Table:
        try:
            rows = self.client.list_rows(self.table_id(name))
            data = rows.to_arrow(create_bqstorage_client=False)
        except Exception as exc:
            if not _is_api_error(exc):
                raise
            raise self._error(exc, f"read {self.table_id(name)}") from None
        # BigQuery keeps no row order: put rows back in the lake's (file, row) order.
        keys = [c for c in (SOURCE_FILE, SOURCE_ROW) if c in data.column_names]
        return data.sort_by([(k, "ascending") for k in keys]) if keys else data

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _is_api_error(exc: Exception) -> bool:
    from google.api_core import exceptions as api

    return isinstance(exc, api.GoogleAPIError | ConnectionError | TimeoutError) or type(
        exc
    ).__module__.startswith(("requests.", "urllib3."))


@register("bigquery")
def _open(config: WarehouseConfig) -> Warehouse:
    return BigQueryWarehouse(config)
