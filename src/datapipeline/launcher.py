"""The ``datapipeline`` command's process: its native libraries set up before they load.

Loaded as they come, the libraries reserve address space for a long-running server, not for a
command: pyarrow's allocator (mimalloc) reserves 1 GiB at its first allocation, glibc gives
every thread that allocates an arena of 64 MiB (up to 8 per core), and NumPy's OpenBLAS starts
a thread per core with its buffers. The sample's run reserved 2.6 GB of address space for
190 MB resident, and under ``ulimit -v 1.5G`` (``RLIMIT_AS``) it aborted (SIGABRT) in an
allocation. The program needs none of it: its data lives in Polars' and Arrow's buffers,
which reserve as they grow, and it never calls BLAS.

So the command, before it imports anything else, sets for its own process:

- ``MIMALLOC_ARENA_RESERVE=64MiB``: Arrow's allocator reserves 64 MiB at a time;
- ``OPENBLAS_NUM_THREADS=1``: no BLAS thread pool;
- glibc's arena limit (``mallopt(M_ARENA_MAX, 2)``): two arenas, shared by the threads
  (most of the allocations go through Polars' and Arrow's own allocators, not glibc's).

The two variables are read by the libraries when they load, so they are set in the environment
(unless the user set them): processes the command starts inherit them, and they concern only
those libraries. The arena limit is a call, for this process alone. Nothing is changed for a
program that imports the package (an Airflow worker, a notebook): only the command does this.

It then checks the address-space limit: below what the process needs before it reads any data
(:func:`address_space_needed`), the run would die in a library's allocation; it stops with one
error line instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

#: Address space of the process before it reads any data (libraries, threads, allocators),
#: and what each core adds (a thread of each pool, their stacks and allocator arenas): on
#: the sample, 610 MiB on one core and 650 MiB on two (docs/reliability.md), with a margin.
BASE_ADDRESS_SPACE = 640 * 2**20
PER_CORE_ADDRESS_SPACE = 48 * 2**20

#: What the command sets in its environment, unless already set (see the module).
LIBRARY_SETTINGS = {"MIMALLOC_ARENA_RESERVE": "64MiB", "OPENBLAS_NUM_THREADS": "1"}

#: glibc's ``mallopt`` parameter for the number of arenas, and the number the command allows.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def address_space_needed(cores: int | None = None) -> int:
    """Bytes of address space the command needs before it reads any data, with ``cores``
    cores (default: this machine's)."""
    return BASE_ADDRESS_SPACE + PER_CORE_ADDRESS_SPACE * (cores or os.cpu_count() or 1)


def set_up_libraries() -> None:
    """Set the native libraries up for a command (see the module); call before they load."""
    for name, value in LIBRARY_SETTINGS.items():
        os.environ.setdefault(name, value)
    if sys.platform.startswith("linux"):
        import ctypes

        # not on a libc without mallopt (musl, which has no arenas to limit)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def address_space_error() -> str | None:
    """Why the address-space limit (``ulimit -v``) is too low to run, or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows: no such limit
        return None
    limit, _hard = resource.getrlimit(resource.RLIMIT_AS)
    needed = address_space_needed()
    if limit == resource.RLIM_INFINITY or limit >= needed:
        return None
    return (
        f"the address-space limit (ulimit -v) is {limit // 2**20} MiB; datapipeline needs at "
        f"least {needed // 2**20} MiB on this machine ({os.cpu_count()} cores) before it reads "
        "any data, and more for large inputs: raise the limit"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``datapipeline`` command: libraries set up, the limit checked, then the CLI."""
    set_up_libraries()
    problem = address_space_error()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from datapipeline.cli import main as cli_main

    return cli_main(argv)
