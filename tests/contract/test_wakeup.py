"""Wake-up hints: waiting for work (LISTEN/NOTIFY on PostgreSQL, PRAGMA data_version on
SQLite) and listening for events (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from conveyor.examples import NoOp
from conveyor.store import Store
from conveyor.workflows import Client

from .support import KIND, claim_one, submit, task


def test_wait_times_out_without_work(store: Store) -> None:
    start = time.monotonic()
    assert store.wait_for_work(0.2, threading.Event()) is False
    assert 0.15 < time.monotonic() - start < 2


def test_wait_ends_when_stop_is_set(store: Store) -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    store.wait_for_work(10, stop)
    assert time.monotonic() - start < 2


def test_unsubscribing_is_always_possible(store: Store) -> None:
    unsubscribe = store.listen_events(lambda: None)
    unsubscribe()
    unsubscribe()


@pytest.fixture
def pg_store(store: Store, store_kind: str) -> Store:
    if store_kind != "postgres":
        pytest.skip("SQLite has no event notifications: subscribers poll")
    return store


def _listening(store: Store) -> None:
    """Wait until the store watches for hints (PostgreSQL: its listener connection is up;
    both start on first use)."""
    store.wait_for_work(0.01)
    notifications = getattr(store, "_notifications", None)
    if notifications is not None:
        assert notifications.connected.wait(10)


def test_new_work_wakes_a_waiting_runner(store: Store, open_stores: Callable[[], Store]) -> None:
    _listening(store)
    threading.Timer(0.2, lambda: submit(open_stores())).start()
    start = time.monotonic()
    assert store.wait_for_work(10, threading.Event()) is True
    assert time.monotonic() - start < 5


def test_a_hint_that_arrives_between_waits_is_kept(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    _listening(store)
    submit(open_stores())
    time.sleep(0.3)  # delivered while nobody waits
    start = time.monotonic()
    assert store.wait_for_work(10) is True
    assert time.monotonic() - start < 0.5


def test_a_hint_wakes_a_waiting_runner_within_milliseconds(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    other = open_stores()
    _listening(store)
    woke: list[float] = []
    waiter = threading.Thread(target=lambda: woke.append(_timed_wait(store)))
    waiter.start()
    time.sleep(0.3)
    submitted = time.monotonic()
    submit(other)
    waiter.join(10)
    assert woke and woke[0] - submitted < 0.1  # PostgreSQL: ~1 ms; SQLite: <= 10 ms


def _timed_wait(store: Store) -> float:
    assert store.wait_for_work(10, threading.Event()) is True
    return time.monotonic()


def test_event_listeners_are_called(pg_store: Store, open_stores: Callable[[], Store]) -> None:
    called = threading.Event()
    unsubscribe = pg_store.listen_events(called.set)
    _listening(pg_store)
    called.clear()
    submit(open_stores())
    assert called.wait(5)
    unsubscribe()
    called.clear()
    submit(open_stores())
    assert not called.wait(0.5)


def test_runner_dispatch_uses_the_hint(store_url: str) -> None:
    """With a poll interval of 30 s, only the hint can start the task quickly."""
    client = Client(store_url)
    runner = client.runner(tasks=[NoOp], poll_interval=30)
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    try:
        _listening(client.store)
        time.sleep(0.2)  # the runner is idle, waiting
        job = client.jobs().submit("noop", NoOp())
        deadline = time.monotonic() + 10
        while not client.jobs().find(job.id).state.terminal:
            assert time.monotonic() < deadline, "the runner was not woken"
            time.sleep(0.01)
    finally:
        runner.stop(grace=0)
        thread.join(10)
        client.close()


def test_event_listeners_wake_only_for_appended_events(
    pg_store: Store, open_stores: Callable[[], Store]
) -> None:
    """A claim that starts a job appends its STARTED event (a wake-up); a claim of a running
    job's subtasks appends none, and wakes no event listener (schema v4)."""
    other = open_stores()
    job = submit(other, root=task("root"))
    called = threading.Event()
    unsubscribe = pg_store.listen_events(called.set)
    try:
        _listening_for_events(pg_store)
        called.clear()
        root = claim_one(other, ["root@v1"])  # starts the job
        assert called.wait(5)
        other.complete_task(root.id, root.attempt, subtasks=[task(), task()])
        time.sleep(0.3)  # the completion's own events
        called.clear()
        assert len(other.claim("w", [KIND], limit=5)) == 2
        assert not called.wait(0.5)
        assert other.get_job(job.id).state.value == "STARTED"
    finally:
        unsubscribe()


def _listening_for_events(store: Store) -> None:
    notifications = store._notifications  # type: ignore[attr-defined]
    assert notifications.connected.wait(10)
    time.sleep(0.3)  # LISTEN for a channel asked for after connecting takes one receive slice
