"""Retention cleanup: old events and long-finished jobs go, everything else stays."""

from __future__ import annotations

import time
import uuid

import pytest

from conveyor.exceptions import JobNotFoundError
from conveyor.models import JobState
from conveyor.store import CacheEntry, Completion, NewResult, Store

from .support import KIND, claim_one, count_rows, pv, run_all, submit, task

DAY = 86400.0


def _finished_job(store: Store) -> uuid.UUID:
    job = submit(store, root=task("root"), callback_url="https://example.com/h")
    root = claim_one(store, ["root@v1"])
    completion = Completion(
        root.id,
        root.attempt,
        progress=(pv("p", 1, 1),),
        subtasks=(task(), task(depends_on=[0])),
        results=(NewResult("r.txt", "text/plain", 1, f"jobs/{job.id}/results/r.txt"),),
        cache=(CacheEntry("c", 1, value=b"c"),),
    )
    assert store.complete_tasks([completion]) == set()
    run_all(store)
    assert store.get_job(job.id).state is JobState.COMPLETED
    return job.id


def test_finished_jobs_past_retention_are_deleted_with_their_rows(store: Store) -> None:
    old = [_finished_job(store) for _ in range(5)]
    live = submit(store).id
    deleted: list[uuid.UUID] = []
    counts = store.cleanup(
        job_retention_seconds=DAY,
        event_retention_seconds=0,
        now=time.time() + 2 * DAY,
        batch_size=20,  # two jobs per transaction
        on_jobs_deleted=deleted.extend,
    )
    assert counts == {"jobs": 5, "events": 0}
    assert sorted(map(str, deleted)) == sorted(map(str, old))
    for job_id in old:
        with pytest.raises(JobNotFoundError):
            store.get_job(job_id)
        assert store.list_tasks(job_id) == []
        assert store.events_after(job_id) == []
        assert store.job_progress(job_id) == []
    # Only the live job's rows are left, in every table.
    assert count_rows(store, "jobs") == count_rows(store, "tasks") == 1
    for table in ("task_deps", "progress", "job_labels", "results", "job_cache", "webhook_outbox"):
        assert count_rows(store, table) == 0, table
    assert count_rows(store, "events") == 1
    assert store.get_job(live).state is JobState.QUEUED
    assert [ct.job_id for ct in store.claim("w", [KIND])] == [live]


def test_recent_and_live_jobs_are_kept(store: Store) -> None:
    done = _finished_job(store)
    running = submit(store)
    claim_one(store)
    counts = store.cleanup(job_retention_seconds=DAY, event_retention_seconds=DAY)
    assert counts == {"jobs": 0, "events": 0}
    assert store.get_job(done).state is JobState.COMPLETED
    far_future = time.time() + 365 * DAY
    store.cleanup(job_retention_seconds=DAY, event_retention_seconds=0, now=far_future)
    assert store.get_job(running.id).state is JobState.STARTED  # never finished: kept


def test_zero_retention_keeps_everything(store: Store) -> None:
    done = _finished_job(store)
    before = len(store.events_since(0))
    counts = store.cleanup(
        job_retention_seconds=0, event_retention_seconds=0, now=time.time() + 1000 * DAY
    )
    assert counts == {"jobs": 0, "events": 0}
    assert store.get_job(done).state is JobState.COMPLETED
    assert len(store.events_since(0)) == before


def test_old_events_are_deleted_in_batches(store: Store) -> None:
    for _ in range(4):
        submit(store)
    old = store.events_since(0)
    time.sleep(0.05)
    cutoff = time.time()
    time.sleep(0.05)
    newer = submit(store)
    counts = store.cleanup(
        event_retention_seconds=1.0,
        job_retention_seconds=0,
        now=cutoff + 1.0,
        batch_size=3,
    )
    assert counts == {"jobs": 0, "events": len(old)}
    assert [e.job_id for e in store.events_since(0)] == [newer.id]
    assert store.last_event_id() > old[-1].id
    # Jobs stay when only their events expired.
    assert len(store.query_jobs()) == 5


def test_cleanup_defaults_come_from_settings(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    done = _finished_job(store)
    monkeypatch.setenv("CONVEYOR_JOB_RETENTION_SECONDS", "60")
    monkeypatch.setenv("CONVEYOR_EVENT_RETENTION_SECONDS", "0")
    assert store.cleanup(now=time.time() + 30) == {"jobs": 0, "events": 0}
    assert store.cleanup(now=time.time() + 120) == {"jobs": 1, "events": 0}
    with pytest.raises(JobNotFoundError):
        store.get_job(done)
