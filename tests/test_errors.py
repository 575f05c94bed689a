"""The project's errors: a bad file carries its file and reason, across processes too."""

from __future__ import annotations

import pickle

import pytest

from datapipeline.errors import (
    BadFileError,
    DataPipelineError,
    InputError,
    TooLargeError,
    UnsupportedFormatError,
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (BadFileError("a.csv", "line 3: 6 fields, the header has 4"), "unreadable_file"),
        (BadFileError("a.csv", "missing column 'drug'", reason="missing_column"), "missing_column"),
        (UnsupportedFormatError("NCT1.json", "classic API (v1) JSON"), "unsupported_format"),
        (TooLargeError("p.xml.gz", "record 1: more than 10 bytes"), "too_large"),
    ],
)
def test_a_bad_file_error_names_its_file_and_reason_and_survives_pickling(
    error: BadFileError, reason: str
) -> None:
    assert isinstance(error, InputError)
    assert isinstance(error, DataPipelineError)
    assert str(error) == f"{error.file}: {error.detail}"
    assert error.reason == reason
    copy = pickle.loads(pickle.dumps(error))  # the Beam engine's workers pickle errors
    assert type(copy) is type(error)
    assert (str(copy), copy.file, copy.reason) == (str(error), error.file, error.reason)


def test_a_bad_file_error_rebuilt_from_its_message_keeps_its_class_and_file() -> None:
    """Beam re-raises a worker's error as ``type(exc)(exc.args[0] + step, *exc.args[1:])``."""
    error = UnsupportedFormatError("d/NCT1.json", "classic API (v1) JSON")
    rebuilt = type(error)(error.args[0] + " [while running 'Read']", *error.args[1:])
    assert str(rebuilt) == "d/NCT1.json: classic API (v1) JSON [while running 'Read']"
    assert (rebuilt.file, rebuilt.reason) == ("d/NCT1.json", "unsupported_format")
