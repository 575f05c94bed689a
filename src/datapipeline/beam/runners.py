"""The ``--runner`` name checked before a pipeline is built: a typo is one error line."""

from __future__ import annotations

from collections.abc import Sequence

from datapipeline.errors import ConfigError
from datapipeline.suggest import did_you_mean


def check_runner(runner: str | None, known: Sequence[str]) -> None:
    """Refuse a runner name Beam would not find, as Beam looks names up: any case, with or
    without the ``Runner`` suffix; a dotted path names a runner class and is left to Beam."""
    if runner is None or "." in runner:
        return
    names = {name.lower() for name in known}
    if runner.lower() in names or runner.lower() + "runner" in names:
        return
    raise ConfigError(
        f"--runner {runner}: unknown Beam runner; expected one of {', '.join(known)}"
        f"{did_you_mean(runner, known)}"
    )
