"""Retrying storage and database calls on transient errors, with exponential backoff and jitter.

Only errors that may go away by themselves are retried: a :class:`DataPipelineError` marked
``transient``, the network ``OSError`` types (``ConnectionError``, ``TimeoutError``), and the
``OSError`` that pyarrow raises for a cloud call whose status says the service was unavailable,
overloaded or timed out. Everything else (a missing file, a denied permission, bad data) fails
at once: retrying it would only delay the same error.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from datapipeline.errors import DataPipelineError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: Markers of a transient failure in the text of an ``OSError`` raised by pyarrow's cloud
#: filesystems (google-cloud-cpp status codes, libcurl transport errors, HTTP 429/5xx).
TRANSIENT_MARKERS = (
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "ABORTED",
    "CURL error",
    "Could not connect",
    "Connection reset",
    "Connection refused",
    "timed out",
    "Timeout",
    "Too Many Requests",
    "Service Unavailable",
    "Bad Gateway",
    "Gateway Timeout",
)

#: ``OSError`` subclasses that are never transient, whatever their message says.
PERMANENT_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may succeed when the same call is tried again."""
    if isinstance(exc, DataPipelineError):
        return exc.transient
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, PERMANENT_OS_ERRORS):
        return False
    if isinstance(exc, OSError):
        text = str(exc)
        return any(marker in text for marker in TRANSIENT_MARKERS)
    return False


@dataclass
class RetryPolicy:
    """How often and how long to retry: ``attempts`` calls in all, delays doubling from
    ``base_delay`` up to ``max_delay`` seconds, each scaled by a random factor in [0.5, 1)
    ("equal jitter") so that many workers failing together do not retry together.

    ``sleep`` and ``random`` are injectable so tests run without waiting.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: Bound on a storage client's own retries of one request (pyarrow's GCS
    #: ``retry_time_limit``), inside each of this policy's attempts.
    request_seconds: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = field(default=random.random)

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return ceiling * (0.5 + 0.5 * self.random())

    def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``function``; retry it on transient errors; re-raise the last error."""
        for attempt in range(1, self.attempts + 1):
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                if attempt == self.attempts or not is_transient(exc):
                    raise
                wait = self.delay(attempt)
                log.warning(
                    "%s failed (attempt %d of %d: %s); retrying in %.1fs",
                    getattr(function, "__qualname__", "call"),
                    attempt,
                    self.attempts,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    wait,
                )
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


#: The policy storage calls use; tests replace its ``sleep``.
DEFAULT_POLICY = RetryPolicy()


def retrying(
    policy: RetryPolicy | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator: call the function through ``policy`` (default: :data:`DEFAULT_POLICY`,
    looked up at call time so tests can change it)."""

    def decorator(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return (policy or DEFAULT_POLICY).call(function, *args, **kwargs)

        return wrapper

    return decorator


__all__ = ["DEFAULT_POLICY", "RetryPolicy", "is_transient", "retrying"]
