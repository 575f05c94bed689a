"""The seed's process job entry point: lake (imported_data/) → processed_data/graph.json.

Any flag of ``datapipeline process`` may be passed through.
"""

import sys

from datapipeline.launcher import main

if __name__ == "__main__":
    sys.exit(main(["process", *sys.argv[1:]]))
