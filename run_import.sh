#!/usr/bin/env bash
# The seed's import job entry point: imports every source of config/file_to_import.yaml into
# the lake (imported_data/ by default). Any flag of `datapipeline import` may be passed through.
set -euo pipefail
cd "$(dirname "$0")"
exec "${DATAPIPELINE:-datapipeline}" import "$@"
