"""Count webhook outcomes in the API's Prometheus metrics, when the API is installed.

The dispatcher also runs without the API (``conveyor notifier``, tests, installs
without the ``server`` extra), so ``conveyor.api.metrics`` is looked up once,
lazily, and its absence is not an error.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from typing import Any

__all__ = ["count_outcome"]

log = logging.getLogger("conveyor.notify")


@cache
def _metrics() -> Any:
    try:
        return importlib.import_module("conveyor.api.metrics")
    except ImportError:
        return None


def count_outcome(outcome: str, seconds: float | None = None) -> None:
    """Count one attempt by outcome (``delivered``, ``retrying``, ``failed``) and its duration
    in ``WEBHOOK_DELIVERIES`` / ``WEBHOOK_DELIVERY_SECONDS``."""
    metrics = _metrics()
    if metrics is None:
        return
    try:
        counter = getattr(metrics, "WEBHOOK_DELIVERIES", None)
        if counter is not None:
            counter.labels(outcome=outcome).inc()
        histogram = getattr(metrics, "WEBHOOK_DELIVERY_SECONDS", None)
        if histogram is not None and seconds is not None:
            histogram.observe(seconds)
    except Exception:  # metrics must never break delivery
        log.debug("could not count webhook outcome %s", outcome, exc_info=True)
