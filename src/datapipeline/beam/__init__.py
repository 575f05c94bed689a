"""The Apache Beam engine: the main job as a Beam pipeline (DirectRunner, Dataflow…).

Beam is an optional dependency (the ``beam`` extra, see ``BEAM_MISSING``); importing this package
does not import Beam: :func:`run` and :func:`run_beam` do, when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from datapipeline.extras import install_hint

if TYPE_CHECKING:
    from datapipeline.engines import RunRequest
    from datapipeline.run.report import RunReport

BEAM_MISSING = "the beam engine needs Apache Beam: " + install_hint("beam")


def _pipeline_module() -> Any:
    try:
        from datapipeline.beam import pipeline
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "apache_beam":
            from datapipeline.errors import ConfigError

            raise ConfigError(BEAM_MISSING) from None
        raise
    return pipeline


def run(argv: Sequence[str] | None = None) -> RunReport:
    """The driver: ``--data-dir``, ``--output-dir``, then any Beam pipeline options."""
    report: RunReport = _pipeline_module().run(argv)
    return report


def run_beam(*args: Any, **kwargs: Any) -> RunReport:
    """See :func:`datapipeline.beam.pipeline.run_beam`."""
    report: RunReport = _pipeline_module().run_beam(*args, **kwargs)
    return report


def run_engine(request: RunRequest) -> RunReport:
    """The ``beam`` engine of ``datapipeline run``: the request's options are Beam pipeline
    options; it reads the input files directly and keeps no lake or state."""
    if request.on_bad_file != "fail":
        from datapipeline.errors import ConfigError

        raise ConfigError(
            "--on-bad-file skip: the beam engine stops at a file it cannot read; "
            "use --engine local or stream to skip such files"
        )
    request.progress("beam pipeline …")
    return run_beam(request.data_dir, request.output_dir, request.options)


__all__ = ["run", "run_beam", "run_engine"]
