"""The help texts of the ``datapipeline`` command: the examples shown under each command's
``--help``."""

EPILOG_MAIN = """examples:
  datapipeline run                              # sample data → processed_data/graph.json
  datapipeline run --data-dir ../shared/reference-data/servier-test --output-dir out
  datapipeline run --engine beam --runner DirectRunner --direct_num_workers=2
  datapipeline check                            # config and input files, without running
  datapipeline import --config_file config/file_to_import.yaml
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline import --bucket_name my-bucket --output_folder imported_data   # gs:// lake
  datapipeline import --config_file config/sales_to_import.yaml   # the sales sample
  datapipeline load                             # lake tables → processed_data/warehouse.duckdb
  datapipeline sql query_1                      # revenue per day in 2019, on the warehouse
  datapipeline top-journals processed_data/graph.json
  datapipeline related-drugs processed_data/graph.json ETHANOL --json
  datapipeline show processed_data/graph.json --output graph.html --png graph.png
  datapipeline --config-dir ~/DataPipeline/config import    # from any folder

The config folder (config files of import, process, --env) is --config-dir, else
$DATAPIPELINE_CONFIG_DIR, else config/ in the current folder; `run` needs none.
Run `datapipeline COMMAND --help` for the options and examples of each command.
"""


EPILOG_RUN = """examples:
  datapipeline run
      the shipped sample data → imported_data/ (lake) and processed_data/graph.json
  datapipeline run --data-dir ../shared/reference-data/servier-test --output-dir out --lake lake
      import the folder's drugs*.csv, pubmed*.csv, pubmed*.json, clinical_trials*.csv
  datapipeline run --lake gs://my-bucket/imported_data --env prod
      the lake in Cloud Storage, other defaults from config/dag_config.yaml (prod)
  datapipeline run --engine beam --runner DirectRunner --direct_num_workers=2
      the Beam engine; options not listed here go to Beam (with --engine beam only)

outputs: graph.json (the drug-mention graph), run_report.json, rejected_rows.jsonl
"""


EPILOG_IMPORT = """examples:
  datapipeline import
      every source of config/file_to_import.yaml → imported_data/
  datapipeline import --config_file config/file_to_import.yaml --source_id pubmed_json
      only one source of the config
  datapipeline import --source src/datapipeline/sample_data/pubmed.csv --source_type csv \\
      --dest_table pubmed
      one file, no config
  datapipeline import --config_file config/sales_to_import.yaml
      the sales sample (TRANSACTIONS, PRODUCT_NOMENCLATURE) for `datapipeline sql`
  datapipeline import --bucket_name my-bucket --output_folder imported_data
      write the lake to gs://my-bucket/imported_data

A relative --config_file is looked up in the current folder, then in the config folder.
"""


EPILOG_PROCESS = """examples:
  datapipeline process
      imported_data/ → processed_data/graph.json (config/file_to_process.yaml if present)
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline process --input_folder gs://my-bucket/imported_data --output_folder out
"""


EPILOG_LAKE = """examples:
  datapipeline lake ls
      every table of imported_data/: each source (file or database table), its rows, its part
  datapipeline lake ls pubmed --lake gs://my-bucket/imported_data
  datapipeline lake rm pubmed data/pubmed_2019.csv
      take that file's rows out of the pubmed table (the next run imports it again if the
      file is still in its data folder)
"""


EPILOG_LOAD = """examples:
  datapipeline load
      every table of imported_data/ → processed_data/warehouse.duckdb
  datapipeline load --tables TRANSACTIONS PRODUCT_NOMENCLATURE
  datapipeline load --env prod
      gs:// lake → BigQuery load jobs (WRITE_TRUNCATE), as config/dag_config.yaml says
"""


EPILOG_SQL = """examples:
  datapipeline import --config_file config/sales_to_import.yaml && datapipeline load
      first: the shipped sales sample into the lake, then into processed_data/warehouse.duckdb
  datapipeline sql query_1
      revenue per day in 2019 (date, ventes), on processed_data/warehouse.duckdb
  datapipeline sql query_2 --env prod
      sales of furniture and decoration per client in 2020, on BigQuery
  datapipeline sql query_1 --warehouse sales.duckdb --csv
      on another DuckDB file, as CSV
  datapipeline sql related_drugs --param drug_key=ethanol
      the graph's question in SQL, on the graph's tables loaded by `datapipeline load`
"""


EPILOG_CHECK = """examples:
  datapipeline check
      the config folder's files parse, every file source of its import configs opens, and
      the sample data folder has every source and each file opens with its reader
  datapipeline check --data-dir ../shared/reference-data/servier-test --env prod

Prints one `ok:` line per thing checked, one `error:` line per problem (exit status 2).
"""


GRAPH_HELP = (
    "graph.json written by run or process (its Parquet tables beside it are read when "
    "present), or a folder holding the graph's tables"
)


EPILOG_TOP = """examples:
  datapipeline top-journals processed_data/graph.json
      one line per journal: NAME<TAB>COUNT (every journal tied for first)
  datapipeline top-journals processed_data/graph.json --json
      {"count": 3, "journals": ["Journal of emergency nursing"]}
"""


EPILOG_RELATED = """examples:
  datapipeline related-drugs processed_data/graph.json TETRACYCLINE
  datapipeline related-drugs processed_data/graph.json ethanol --json
      {"drug": "ETHANOL", "related": ["..."]}
"""


EPILOG_SHOW = """examples:
  datapipeline show processed_data/graph.json
      writes processed_data/graph.html next to the graph; open it in any browser (offline)
  datapipeline show processed_data/graph.json --output report/graph.html --png report/graph.png
      the page and a static picture for reports (the picture needs the viz extra:
      pip install -e '.[viz]' in the DataPipeline checkout)
  datapipeline show big_graph.json --max-nodes 5000
      draw more nodes before sampling publications

The page: search a drug or journal, click a node for its details, filter by kind and by date
range; the journals mentioning the most distinct drugs are marked as top journals. Past
--max-nodes nodes it keeps every drug and journal and a sample of the publications, and says so.
"""
