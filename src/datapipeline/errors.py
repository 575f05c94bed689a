"""The project's errors: one base class, so the CLI can print one clear line for each."""

from __future__ import annotations


class DataPipelineError(Exception):
    """Base of every error a user can cause or fix (bad input, bad config, missing file).

    The message is one line naming the file, row or key and what was expected; the CLI prints
    it without a traceback unless ``--debug``.
    """

    #: Transient failures (network, locks) may be retried; everything else fails at once.
    transient: bool = False


class ConfigError(DataPipelineError):
    """A configuration file or key is missing or invalid."""


class InputError(DataPipelineError):
    """An input file cannot be read as the source type it is declared as."""


class LakeError(DataPipelineError):
    """The lake location is invalid or cannot be written."""


class GraphError(DataPipelineError):
    """A graph file is missing or not in the expected format."""


class WarehouseError(DataPipelineError):
    """The warehouse cannot be reached, or a table cannot be loaded or read."""


class OutputError(DataPipelineError):
    """A run's outputs cannot be written (full disk, I/O error); the previous ones are kept."""
