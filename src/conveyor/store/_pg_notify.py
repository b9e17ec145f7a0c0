"""LISTEN/NOTIFY wake-up hints: one listening connection per store, shared by its users.

Triggers (``sql/postgres/migrations/0001_init.sql``) notify ``conveyor_tasks``
when a task becomes runnable and ``conveyor_events`` when events are appended.
A notification only means "look again": idle runners claim at once instead of
at their next poll, and the API's event hub polls the event log at once. Polling
stays the fallback, so a lost notification (listener reconnecting, PostgreSQL
restarting) delays nothing by more than the poll interval; after a reconnect
everyone is woken once, since notifications may have been missed meanwhile.

The connection listens only on the channels this process uses: a worker process
(``wait_for_work``) does not wake for every event any worker appends, nor an API
server (``subscribe_events``) for every runnable task.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

import psycopg

__all__ = ["EVENTS_CHANNEL", "TASKS_CHANNEL", "Notifications"]

log = logging.getLogger("conveyor.store.postgres")

TASKS_CHANNEL = "conveyor_tasks"
EVENTS_CHANNEL = "conveyor_events"
_RECEIVE_SLICE = 0.25  # how long one notifies() call blocks before checking for close()
_STOP_SLICE = 0.05  # how often a waiter looks at its caller's stop event


class Notifications:
    """A background thread holding the LISTEN connection, started on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[threading.Event] = set()
        self._task_hint = False
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._wanted: set[str] = set()  # channels a user of this store waits on

    # -- users ----------------------------------------------------------------------------
    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until a task may have become runnable, ``stop`` is set, or ``timeout``.

        Returns True when woken by a notification. A notification that arrived
        while nobody waited is kept (one flag), so the next wait returns at once.
        """
        self._start(TASKS_CHANNEL)
        mine = threading.Event()
        with self._lock:
            if self._task_hint:
                self._task_hint = False
                return True
            self._waiters.add(mine)
        try:
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    return False
                if mine.wait(min(remaining, _STOP_SLICE) if stop is not None else remaining):
                    return True
        finally:
            with self._lock:
                self._waiters.discard(mine)

    def subscribe_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (on the listener thread) whenever events were appended.

        Returns the function that unsubscribes.
        """
        key = next(self._ids)
        with self._lock:
            self._callbacks[key] = callback
        self._start(EVENTS_CHANNEL)

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return unsubscribe

    def close(self) -> None:
        self._closing.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _RECEIVE_SLICE + 1)

    # -- listener thread ------------------------------------------------------------------
    def _start(self, channel: str) -> None:
        with self._lock:
            self._wanted.add(channel)
            if self._thread is not None or self._closing.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="conveyor-listen", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        delay = 0.1
        reconnecting = False
        while not self._closing.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    listening: set[str] = set()
                    self._listen(conn, listening)
                    self.connected.set()
                    delay = 0.1
                    if reconnecting:  # notifications may have been missed meanwhile
                        self._wake_tasks()
                        self._wake_events()
                    reconnecting = True
                    while not self._closing.is_set():
                        if self._wanted - listening:  # a new kind of user since
                            self._listen(conn, listening)
                        for note in conn.notifies(timeout=_RECEIVE_SLICE):
                            if note.channel == TASKS_CHANNEL:
                                self._wake_tasks()
                            elif note.channel == EVENTS_CHANNEL:
                                self._wake_events()
            except psycopg.Error as exc:
                if self._closing.is_set():
                    break
                if self.connected.is_set():
                    log.warning("listener connection lost (%s); reconnecting", exc)
                self.connected.clear()
                self._closing.wait(delay)
                delay = min(delay * 2, 5.0)
        self.connected.clear()

    def _listen(self, conn: psycopg.Connection[object], listening: set[str]) -> None:
        """LISTEN on the wanted channels not listened to yet. (A notification sent before
        reaches nobody; the users poll, as they do when a notification is lost.)"""
        with self._lock:
            new = sorted(self._wanted - listening)
        for channel in new:
            conn.execute(f"LISTEN {channel}")
            listening.add(channel)

    def _wake_tasks(self) -> None:
        with self._lock:
            if self._waiters:
                for waiter in self._waiters:
                    waiter.set()
            else:
                self._task_hint = True

    def _wake_events(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("event listener callback failed")
