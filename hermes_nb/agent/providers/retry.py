"""The retry policy shared by the HTTP providers.

SDK retries are switched off (``max_retries=0``) so that every retry happens here and
is visible to the user as a ``RetryNotice``. A provider's error translator decides
*whether* a failure may be retried by returning a ``RetryableError``; this module
decides *when* and *how often*.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from hermes_nb.agent.providers.base import Chunk, RetryNotice
from hermes_nb.errors import ProviderError

__all__ = ["RetryPolicy", "RetryableError", "parse_retry_after", "with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to send a failed request again, and how long to wait between.

    ``retries`` counts the sends after the first. Delays double from ``base_delay``
    up to ``max_delay``; a server's ``Retry-After`` replaces the computed delay, and
    one longer than ``max_retry_after`` makes us give up at once rather than freeze
    the cell for minutes.
    """

    retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """``HERMES_NB_MAX_RETRIES`` and ``HERMES_NB_RETRY_BASE_DELAY`` override the defaults."""
        env = os.environ if environ is None else environ
        retries = _number(env.get("HERMES_NB_MAX_RETRIES"), cls.retries)
        base = _number(env.get("HERMES_NB_RETRY_BASE_DELAY"), cls.base_delay)
        return cls(retries=max(0, int(retries)), base_delay=max(0.0, float(base)))

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based) when the server gave no hint."""
        return min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text else default
    except ValueError:
        return default


class RetryableError(Exception):
    """A failure that may go away if the request is sent again.

    ``final`` is the error class to raise once the retries are used up and ``message``
    its text; ``reason`` is the short phrase shown with each retry.
    """

    def __init__(
        self,
        reason: str,
        final: type[ProviderError],
        message: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final
        self.message = message
        self.retry_after = retry_after

    def give_up(self, retries: int) -> ProviderError:
        suffix = f" (gave up after {retries} retries)" if retries else ""
        return self.final(self.message + suffix)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, ``retry-after`` as
    seconds or as an HTTP date; None when absent or unreadable."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def with_retries(
    attempt: Callable[[], Iterator[Chunk]],
    policy: RetryPolicy,
    cancel: threading.Event,
) -> Iterator[Chunk]:
    """Run ``attempt`` until it completes, retrying ``RetryableError`` per ``policy``.

    Each retry is announced with a ``RetryNotice`` (so the loop drops the step's
    partial output) and the wait is a ``cancel.wait`` so a cancel ends it at once.
    """
    number = 0
    while True:
        try:
            yield from attempt()
            return
        except RetryableError as err:
            if cancel.is_set():
                return
            number += 1
            if number > policy.retries:
                raise err.give_up(policy.retries) from err
            if err.retry_after is not None:
                if err.retry_after > policy.max_retry_after:
                    raise err.final(
                        f"{err.message} (the server asks to wait {err.retry_after:.0f} s)"
                    ) from err
                delay = err.retry_after
            else:
                delay = policy.backoff(number)
            yield RetryNotice(attempt=number, delay=delay, reason=err.reason)
            if cancel.wait(delay):
                return
