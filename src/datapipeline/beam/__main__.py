"""``python -m datapipeline.beam --data-dir D --output-dir O [beam options…]``."""

import sys

from datapipeline.beam import run

if __name__ == "__main__":
    print(run(sys.argv[1:]).summary())
