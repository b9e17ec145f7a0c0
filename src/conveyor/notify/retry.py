"""When a delivery attempt counts as delivered, when to retry it, and how long to wait.

The rules, chosen so a receiver's temporary trouble is retried and its
deliberate refusals are not:

* 2xx: delivered.
* Connection errors, timeouts, DNS failures, 5xx, and 408/409/425/429: retried.
* Every other status (3xx, since redirects are never followed; other 4xx): failed
  at once: the receiver understood the request and said no, and repeating it
  would not change the answer (``POST .../redeliver`` can, after a fix).
* A URL the SSRF guard refuses: failed at once.

Retries follow a schedule of delays (seconds), each scaled by a random jitter
factor so receivers that come back are not hit by every sender at the same
moment. A message gets ``len(schedule) + 1`` attempts. On 429 and 503 a
``Retry-After`` header can only lengthen the wait, up to the schedule's largest
delay, so one receiver cannot park a message forever.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = [
    "RETRYABLE_STATUS_CODES",
    "RetryPolicy",
    "Verdict",
    "classify",
    "parse_retry_after",
]

#: Non-5xx statuses that mean "try again later".
RETRYABLE_STATUS_CODES = frozenset({408, 409, 425, 429})
_RETRY_AFTER_STATUS_CODES = frozenset({429, 503})


class Verdict(enum.StrEnum):
    """What one attempt's outcome means for its message."""

    DELIVERED = "DELIVERED"
    RETRY = "RETRY"
    FAIL = "FAIL"


def classify(status_code: int | None, *, retryable_error: bool = True) -> Verdict:
    """The verdict for a response status, or for an error without one (``status_code=None``)."""
    if status_code is None:
        return Verdict.RETRY if retryable_error else Verdict.FAIL
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code >= 500 or status_code in RETRYABLE_STATUS_CODES:
        return Verdict.RETRY
    return Verdict.FAIL


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry schedule of one dispatcher (``webhook_retry_schedule``)."""

    schedule: tuple[float, ...]
    jitter: float = 0.2
    random: Callable[[], float] = random.random

    @classmethod
    def of(cls, schedule: Sequence[float], jitter: float = 0.2) -> RetryPolicy:
        return cls(tuple(float(s) for s in schedule), jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay(
        self, attempt: int, *, status_code: int | None = None, retry_after: float | None = None
    ) -> float | None:
        """Seconds before the next attempt after failed attempt number ``attempt`` (1-based,
        within the current retry series), or None when the attempts are used up."""
        if attempt < 1 or attempt > len(self.schedule):
            return None
        factor = 1.0 + self.jitter * (2.0 * self.random() - 1.0)
        delay = self.schedule[attempt - 1] * factor
        if retry_after is not None and status_code in _RETRY_AFTER_STATUS_CODES:
            delay = max(delay, min(retry_after, max(self.schedule)))
        return delay
