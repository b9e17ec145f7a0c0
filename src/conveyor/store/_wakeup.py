"""Wake-up hints for idle runners and event subscribers; engines without them just wait.

PostgreSQL overrides both with LISTEN/NOTIFY (``_pg_notify``). Hints never carry
data: whoever is woken polls the store as usual, so an engine without hints (or
a lost hint) only costs up to one poll interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["WakeupMixin"]


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
