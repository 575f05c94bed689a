"""Timing a run's steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from datapipeline.progress import Progress, quiet


@dataclass
class StepTimer:
    """Wall-clock seconds per named step, in the order the steps ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    progress: Progress = quiet

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` and announce it."""
        self.progress(name)
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
