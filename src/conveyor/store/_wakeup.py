"""Wake-up hints for idle runners and event subscribers; engines without them just wait.

PostgreSQL overrides both with LISTEN/NOTIFY (``_pg_notify``); SQLite watches a
cheap change counter (``poll_for_change``). Hints never carry data: whoever is
woken polls the store as usual, so an engine without hints (or a lost hint) only
costs up to one poll interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WakeupMixin", "poll_for_change"]

V = TypeVar("V")


def poll_for_change(
    probe: Callable[[], V],
    seen: V,
    timeout: float,
    stop: threading.Event | None,
    interval: Callable[[], float],
) -> tuple[bool, V]:
    """Call ``probe()`` every ``interval()`` seconds until it returns something other than
    ``seen``, ``stop`` is set, or ``timeout`` passed.

    Returns (changed, the last value read): the caller keeps the value as the next
    ``seen``, so a change between two calls ends the next one at once. Sleeps with
    ``time.sleep`` and looks at ``stop`` in between (about half the CPU of a wait on
    the event, which matters at hundreds of wake-ups a second).
    """
    deadline = time.monotonic() + timeout
    while True:
        current = probe()
        if current != seen:
            return True, current
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            return False, current
        time.sleep(min(interval(), remaining))


class WakeupMixin:
    """Default wake-up hints: none (SQLite); mixed into ``SqlStore``."""

    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until a task may have become runnable, ``stop`` is set, or ``timeout`` passed.

        Returns True only when woken by a hint; this engine has none, so it just waits.
        """
        if stop is None:
            time.sleep(timeout)
        else:
            stop.wait(timeout)
        return False

    def listen_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` from a background thread whenever events are appended.

        Returns a function that stops the calls. This engine has no notifications:
        subscribers keep polling ``events_since``.
        """
        return _no_op


def _no_op() -> None:
    return None
