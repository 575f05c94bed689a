"""``python -m datapipeline.cli``: the ``datapipeline`` command."""

import sys

from datapipeline.cli import main

sys.exit(main())
