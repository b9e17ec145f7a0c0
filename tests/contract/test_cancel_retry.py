"""Cancel and retry: state changes, their effect on queued and running tasks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from conveyor.exceptions import InvalidStateError, JobNotFoundError
from conveyor.models import JobState, TaskState
from conveyor.store import Store

from .support import KIND, claim_one, error, event_types, run_all, submit, task


def test_cancel_a_queued_job(store: Store) -> None:
    job = submit(store, tenant="t")
    with pytest.raises(JobNotFoundError):
        store.cancel_job(job.id, tenant="other")
    got = store.cancel_job(job.id, tenant="t")
    assert got.state is JobState.CANCELED and got.finished_at is not None
    assert [i.state for i in store.list_tasks(job.id)] == [TaskState.CANCELED]
    assert store.claim("w", [KIND]) == []
    assert not store.has_pending_work([KIND])
    with pytest.raises(InvalidStateError):
        store.cancel_job(job.id)
    assert event_types(store, job.id)[-1] == ("state", "CANCELED")


def test_cancel_a_running_job(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task("a"), task("b")])
    running = claim_one(store, ["a@v1"])
    store.cancel_job(job.id)
    status = store.heartbeat([(running.id, running.attempt)], 30)
    assert status.cancelled == frozenset({running.id})
    assert store.flush_progress(running.id, running.attempt, [], 30).cancelled == frozenset(
        {running.id}
    )
    store.ack_cancel(running.id, running.attempt)
    states = {i.identifier: i.state for i in store.list_tasks(job.id)}
    assert states == {
        "root": TaskState.COMPUTED,
        "a": TaskState.CANCELED,
        "b": TaskState.CANCELED,
    }
    assert store.get_job(job.id).state is JobState.CANCELED


def test_cancelled_job_ignores_late_completion(store: Store) -> None:
    job = submit(store)
    ct = claim_one(store)
    store.cancel_job(job.id)
    store.complete_task(ct.id, ct.attempt)  # finished anyway: recorded, job stays cancelled
    assert store.get_job(job.id).state is JobState.CANCELED
    assert [s for _, s in event_types(store, job.id)].count("COMPLETED") == 0


def test_cancel_completed_job_is_refused(store: Store) -> None:
    job = submit(store)
    run_all(store)
    with pytest.raises(InvalidStateError):
        store.cancel_job(job.id)


def test_retry_a_failed_job(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task(max_retries=1), task()])
    a, b = store.claim("w", [KIND], limit=2)
    store.complete_task(b.id, b.attempt)
    store.fail_task(a.id, a.attempt, error(), retry_at=None)
    assert store.get_job(job.id).state is JobState.FAILED
    with pytest.raises(JobNotFoundError):
        store.retry_job(job.id, tenant="other")
    got = store.retry_job(job.id)
    assert got.state is JobState.STARTED and got.error is None and got.finished_at is None
    [retried] = [i for i in store.list_tasks(job.id) if i.id == a.id]
    assert retried.state is TaskState.QUEUED and retried.failures == 0 and retried.error is None
    again = claim_one(store)
    assert again.id == a.id and again.attempt == a.attempt + 1
    store.complete_task(again.id, again.attempt)
    assert store.get_job(job.id).state is JobState.COMPLETED
    states = [s for t, s in event_types(store, job.id) if t == "state"]
    assert states == ["QUEUED", "STARTED", "FAILED", "STARTED", "COMPLETED"]


def test_retry_a_cancelled_job_that_never_started(store: Store) -> None:
    job = submit(store)
    store.cancel_job(job.id)
    got = store.retry_job(job.id)
    assert got.state is JobState.QUEUED
    run_all(store)
    assert store.get_job(job.id).state is JobState.COMPLETED


def test_retry_refuses_live_and_completed_jobs(store: Store) -> None:
    job = submit(store)
    with pytest.raises(InvalidStateError):
        store.retry_job(job.id)
    run_all(store)
    with pytest.raises(InvalidStateError):
        store.retry_job(job.id)


def test_cancel_racing_completion_changes_state_once(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    """A cancel and the last task's completion race: exactly one terminal event per job."""
    jobs = [submit(store, callback_url="https://example.com/h") for _ in range(12)]
    claimed = {ct.job_id: ct for ct in store.claim("w", [KIND], limit=12)}
    canceller, completer = open_stores(), open_stores()
    barrier = threading.Barrier(2)

    def cancel_all() -> None:
        barrier.wait()
        for job in jobs:
            try:
                canceller.cancel_job(job.id)
            except InvalidStateError:
                pass

    def complete_all() -> None:
        barrier.wait()
        for job in jobs:
            ct = claimed[job.id]
            completer.complete_task(ct.id, ct.attempt)

    threads = [threading.Thread(target=cancel_all), threading.Thread(target=complete_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    time.sleep(0)
    for job in jobs:
        final = store.get_job(job.id).state
        assert final in (JobState.CANCELED, JobState.COMPLETED)
        terminal = [s for t, s in event_types(store, job.id) if s in ("CANCELED", "COMPLETED")]
        assert terminal == [final.value]
        messages = store.list_webhook_messages(job.id)
        assert [m.event_type for m in messages] == [f"job.{final.value.lower()}"]
