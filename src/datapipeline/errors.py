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


class BadFileError(InputError):
    """One input file, as a whole, cannot be read: it is refused, not its rows one by one.

    Carries the file (``file``) and a stable identifier of the cause (``reason``), so that a
    run can report the file as rejected and go on with the others instead of stopping. The
    message is ``<file>: <position>: <what was expected>``.
    """

    #: Stable identifier of the cause, for reports (like the rows' rejection reasons).
    reason = "unreadable_file"

    def __init__(self, file: str, message: str | None = None, reason: str | None = None) -> None:
        if message is None:
            # One argument: a whole ``<file>: <message>`` line, as frameworks rebuild an error
            # from its ``args`` (Beam adds the step that failed to the message).
            file, _, message = file.partition(": ")
        super().__init__(f"{file}: {message}")
        self.file = file
        self.detail = message
        if reason is not None:
            self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # an exception is pickled as its class and ``args``: keep the three fields
        return (type(self), (self.file, self.detail, self.reason))


class UnsupportedFormatError(BadFileError):
    """A file in a neighbouring format that is not the source's (ClinicalTrials.gov classic
    API v1, MEDLINE citation XML before 2017, an NCBI eLink result…); the message says what
    to fetch instead."""

    reason = "unsupported_format"


class TooLargeError(BadFileError):
    """A file, or one record of it, inflates past a configured bound (a decompression bomb,
    a runaway field): refused before it exhausts memory or time."""

    reason = "too_large"


class LakeError(DataPipelineError):
    """The lake location is invalid or cannot be written."""


class GraphError(DataPipelineError):
    """A graph file is missing or not in the expected format."""


class WarehouseError(DataPipelineError):
    """The warehouse cannot be reached, or a table cannot be loaded or read."""


class OutputError(DataPipelineError):
    """A run's outputs cannot be written (full disk, I/O error); the previous ones are kept."""
