"""Run the ``datapipeline`` command and SIGKILL it just before its N-th publication change.

``python -m tests.reliability.kill_points OUT N ARG…`` (from the repository) runs
``datapipeline.cli.main([ARG…])``; the changes of the output folder OUT are watched
(:class:`tests.reliability.faults.Changes`) and those that publish, rather than write the files
of a run folder, are counted: the output folder's own entries (the documented links) and the
entries of ``OUT/.runs`` (run folders, the ``current`` link), created, renamed, fsynced or
removed (a folder made only if missing, and there, is no change). Just before the N-th, the process kills itself with SIGKILL, as a crash would stop it.
A run that ends prints ``publication changes: C`` on stderr.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from datapipeline.cli import main
from tests.reliability.faults import Changes

#: The output folder's folder of run folders (``datapipeline.run.outputs.RUNS``, spelled out:
#: the kills are the same for a version without it, which renamed the files into the folder).
RUNS = ".runs"


def publishes(out: Path, path: str) -> bool:
    """Whether a change of ``path`` publishes (is not inside a run folder)."""
    parts = Path(os.path.relpath(path, out)).parts
    return len(parts) <= 1 or (parts[0] == RUNS and len(parts) == 2)


def run(out: Path, kill_at: int, argv: list[str]) -> int:
    counted = 0

    def hook(kind: str, paths: tuple[str, ...]) -> None:
        nonlocal counted
        if kind == "mkdir" and os.path.isdir(paths[0]):
            return  # a folder made if missing, there already: no change
        if any(publishes(out, p) for p in paths):
            counted += 1
            if counted == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    with Changes(out, hook):
        code = main(argv)
    print(f"publication changes: {counted}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run(Path(os.path.realpath(sys.argv[1])), int(sys.argv[2]), sys.argv[3:]))
