"""Creating, reading and listing jobs; idempotency keys; counters."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from conveyor.exceptions import ConflictError, JobNotFoundError
from conveyor.models import JobState, TaskState
from conveyor.store import NewJob, Store

from .support import KIND, claim_one, submit, task


def test_create_and_get(store: Store) -> None:
    root = task(data={"n": 3, "s": "é"}, max_retries=2)
    before = time.time()
    job = submit(
        store,
        "render",
        root,
        tenant="acme",
        callback_url="https://example.com/hook",
        webhook_events=["job.completed"],
    )
    assert job.state is JobState.QUEUED
    assert job.name == "render" and job.tenant == "acme"
    assert before - 1 <= job.submitted_at.timestamp() <= time.time() + 1
    assert job.submitted_at.tzinfo is not None
    assert job.started_at is None and job.finished_at is None and job.error is None
    assert job.callback_url == "https://example.com/hook"
    assert job.webhook_events == ["job.completed"]
    assert job.progress == [] and job.results == []
    assert store.get_job(job.id) == job
    assert store.get_job(job.id, tenant="acme") == job
    [info] = store.list_tasks(job.id)
    assert info.id == root.id and info.job_id == job.id and info.parent_id is None
    assert (info.identifier, info.version) == (root.identifier, root.version)
    assert info.state is TaskState.QUEUED
    assert (info.attempt, info.failures, info.lease_losses, info.max_retries) == (0, 0, 0, 2)
    assert info.optional is False and info.depends_on == []
    assert info.input == {"n": 3, "s": "é"}


def test_missing_job_and_other_tenant(store: Store) -> None:
    job = submit(store, tenant="a")
    with pytest.raises(JobNotFoundError):
        store.get_job(uuid.uuid4())
    with pytest.raises(JobNotFoundError):
        store.get_job(job.id, tenant="b")
    assert store.list_tasks(uuid.uuid4()) == []


def test_duplicate_job_id_is_a_conflict(store: Store) -> None:
    new = NewJob(id=uuid.uuid4(), name="x", root=task())
    store.create_job(new)
    with pytest.raises(ConflictError):
        store.create_job(NewJob(id=new.id, name="x", root=task()))
    assert len(store.query_jobs()) == 1


def test_query_newest_first_with_filters(store: Store) -> None:
    a = submit(store, "alpha", tenant="t1")
    time.sleep(0.01)
    b = submit(store, "beta", tenant="t2")
    time.sleep(0.01)
    c = submit(store, "alpha", tenant="t1")
    claim_one(store)  # a starts
    assert [j.id for j in store.query_jobs()] == [c.id, b.id, a.id]
    assert [j.id for j in store.query_jobs(name="alpha")] == [c.id, a.id]
    assert [j.id for j in store.query_jobs(tenant="t2")] == [b.id]
    assert [j.id for j in store.query_jobs(states=[JobState.STARTED])] == [a.id]
    assert [j.id for j in store.query_jobs(states=[JobState.QUEUED, JobState.STARTED])] == [
        c.id,
        b.id,
        a.id,
    ]
    assert store.query_jobs(states=[JobState.FAILED]) == []
    assert [j.id for j in store.query_jobs(since=b.submitted_at)] == [c.id, b.id]
    assert [j.id for j in store.query_jobs(until=b.submitted_at)] == [a.id]
    naive = b.submitted_at.astimezone(UTC).replace(tzinfo=None)
    assert [j.id for j in store.query_jobs(since=naive)] == [c.id, b.id]
    assert [j.id for j in store.query_jobs(limit=2)] == [c.id, b.id]
    assert store.query_jobs(name="alpha", tenant="t2") == []
    future = datetime.fromtimestamp(time.time() + 3600, UTC)
    assert store.query_jobs(since=future) == []


def test_query_jobs_carry_progress_and_results(store: Store) -> None:
    job = submit(store)
    found = store.query_jobs()[0]
    assert found == store.get_job(job.id)


def test_cursor_pagination_visits_every_job_once(store: Store) -> None:
    ids = {submit(store, f"j{i}").id for i in range(23)}
    seen: list[uuid.UUID] = []
    before = None
    while True:
        page = store.query_jobs(limit=5, before=before)
        if not page:
            break
        seen += [j.id for j in page]
        last = page[-1]
        before = (last.submitted_at.timestamp(), last.id)
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == ids


def test_idempotency_key_same_request_returns_same_job(store: Store) -> None:
    first = submit(store, idempotency_key="k1", request_hash="h")
    again = submit(store, idempotency_key="k1", request_hash="h")
    assert again.id == first.id
    assert len(store.query_jobs()) == 1
    assert len(store.list_tasks(first.id)) == 1


def test_idempotency_key_different_request_conflicts(store: Store) -> None:
    submit(store, idempotency_key="k1", request_hash="h1")
    with pytest.raises(ConflictError):
        submit(store, idempotency_key="k1", request_hash="h2")
    assert len(store.query_jobs()) == 1


def test_idempotency_keys_are_per_tenant(store: Store) -> None:
    a = submit(store, tenant="a", idempotency_key="k", request_hash="h")
    b = submit(store, tenant="b", idempotency_key="k", request_hash="h")
    assert a.id != b.id
    c = submit(store, tenant="a", idempotency_key="other", request_hash="h")
    assert c.id not in (a.id, b.id)


def test_idempotency_key_race_creates_one_job(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    stores = [open_stores() for _ in range(4)]
    results: list[uuid.UUID] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def create(s: Store) -> None:
        barrier.wait()
        try:
            results.append(submit(s, idempotency_key="same", request_hash="h").id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert len(store.query_jobs()) == 1


def test_count_jobs_by_state(store: Store) -> None:
    assert store.count_jobs_by_state() == {state: 0 for state in JobState}
    submit(store)
    submit(store)
    claim_one(store)
    counts = store.count_jobs_by_state()
    assert counts[JobState.QUEUED] == 1 and counts[JobState.STARTED] == 1
    assert sum(counts.values()) == 2


def test_queue_position(store: Store) -> None:
    a = submit(store)
    b = submit(store)
    c = submit(store)
    assert [store.queue_position(j.id) for j in (a, b, c)] == [0, 1, 2]
    claim_one(store)
    assert store.queue_position(a.id) is None
    assert [store.queue_position(j.id) for j in (b, c)] == [0, 1]
    store.cancel_job(b.id)
    assert store.queue_position(c.id) == 0
    assert store.queue_position(uuid.uuid4()) is None


def test_has_pending_work(store: Store) -> None:
    assert not store.has_pending_work([KIND])
    submit(store)
    assert store.has_pending_work([KIND])
    assert not store.has_pending_work(["other@v1"])
    ct = claim_one(store)
    assert store.has_pending_work([KIND])
    assert store.has_pending_work(["other@v1"])  # a running task may still spawn others
    store.complete_task(ct.id, ct.attempt)
    assert not store.has_pending_work([KIND])


def test_ping_reads_the_database(store: Store) -> None:
    store.ping()
    store.ping(timeout=0.5)
