"""Leases: expiry and reclaim, lease-loss limits, heartbeats, fencing of zombie writes."""

from __future__ import annotations

import time

import pytest

from conveyor.exceptions import LeaseLostError
from conveyor.models import JobState, TaskState
from conveyor.store import Store

from .support import KIND, claim_one, error, pv, submit, task

SHORT = 0.15


def _expire() -> None:
    time.sleep(SHORT + 0.1)


def test_expired_lease_is_reclaimed_with_a_new_attempt(store: Store) -> None:
    job = submit(store, root=task(max_retries=0))
    first = claim_one(store, lease_seconds=SHORT)
    assert store.claim("w2", [KIND]) == []  # still leased
    _expire()
    second = store.claim("w2", [KIND], lease_seconds=30)
    assert [ct.id for ct in second] == [first.id]
    assert second[0].attempt == 2 and second[0].failures == 0  # a lost lease costs no retry
    [info] = store.list_tasks(job.id)
    assert info.lease_losses == 1 and info.worker_id == "w2" and info.state is TaskState.RUNNING


def test_reclaim_respects_kinds_and_limit(store: Store) -> None:
    submit(store)
    submit(store, root=task("other"))
    claim_one(store, lease_seconds=SHORT)
    claim_one(store, ["other@v1"], lease_seconds=SHORT)
    _expire()
    got = store.claim("w", [KIND], limit=5)
    assert [ct.kind for ct in got] == [KIND]
    assert store.claim("w", ["other@v1"], limit=5)[0].attempt == 2


def test_fresh_tasks_and_reclaims_share_one_claim(store: Store) -> None:
    submit(store)
    stale = claim_one(store, lease_seconds=SHORT)
    fresh = submit(store)
    _expire()
    got = store.claim("w", [KIND], limit=5)
    assert {ct.job_id for ct in got} == {stale.job_id, fresh.id}


def test_too_many_lease_losses_fail_the_task(store: Store) -> None:
    job = submit(store, root=task(max_retries=5))
    claim_one(store, lease_seconds=SHORT, max_lease_losses=1)
    _expire()
    again = claim_one(store, lease_seconds=SHORT, max_lease_losses=1)  # loss 1: reclaimed
    assert again.attempt == 2
    _expire()
    assert store.claim("w", [KIND], lease_seconds=SHORT, max_lease_losses=1) == []  # loss 2
    got = store.get_job(job.id)
    assert got.state is JobState.FAILED
    assert got.error is not None and got.error.type == "LeaseLostError"
    [info] = store.list_tasks(job.id)
    assert info.state is TaskState.FAILED and info.lease_losses == 2
    assert not store.has_pending_work([KIND])


def test_optional_task_losing_its_lease_too_often_fails_the_job(store: Store) -> None:
    # Lease losses are infrastructure failures, not the task's: the job fails regardless.
    job = submit(store, root=task(optional=True))
    claim_one(store, lease_seconds=SHORT, max_lease_losses=0)
    _expire()
    assert store.claim("w", [KIND], max_lease_losses=0) == []
    assert store.get_job(job.id).state is JobState.FAILED


def test_heartbeat_extends_leases(store: Store) -> None:
    submit(store)
    ct = claim_one(store, lease_seconds=SHORT)
    status = store.heartbeat([(ct.id, ct.attempt)], lease_seconds=30)
    assert status.lost == frozenset() and status.cancelled == frozenset()
    _expire()
    assert store.claim("w2", [KIND]) == []
    assert store.heartbeat([], lease_seconds=30).lost == frozenset()


def test_heartbeat_reports_lost_leases_and_cancelled_jobs(store: Store) -> None:
    a, b = submit(store), submit(store)
    ca = claim_one(store, lease_seconds=SHORT)
    cb = claim_one(store, lease_seconds=30)
    assert (ca.job_id, cb.job_id) == (a.id, b.id)
    _expire()
    claim_one(store)  # reclaims a
    store.cancel_job(b.id)
    status = store.heartbeat([(ca.id, ca.attempt), (cb.id, cb.attempt)], lease_seconds=30)
    assert status.lost == frozenset({ca.id})
    assert status.cancelled == frozenset({cb.id})


def test_zombie_writes_are_fenced(store: Store) -> None:
    job = submit(store, root=task(max_retries=3))
    zombie = claim_one(store, lease_seconds=SHORT)
    store.flush_progress(zombie.id, zombie.attempt, [pv("p", 10, 4)], lease_seconds=SHORT)
    _expire()
    live = claim_one(store, lease_seconds=30)
    assert live.attempt == zombie.attempt + 1
    # The lost attempt's progress is gone; its label keeps its place.
    assert [(p.label, p.total, p.done) for p in store.job_progress(job.id)] == [("p", 0, 0)]
    status = store.flush_progress(zombie.id, zombie.attempt, [pv("p", 10, 9)], 30)
    assert status.lost == frozenset({zombie.id})
    with pytest.raises(LeaseLostError):
        store.complete_task(zombie.id, zombie.attempt, progress=[pv("p", 10, 10)])
    with pytest.raises(LeaseLostError):
        store.fail_task(zombie.id, zombie.attempt, error(), retry_at=time.time())
    with pytest.raises(LeaseLostError):
        store.ack_cancel(zombie.id, zombie.attempt)
    store.release_task(zombie.id, zombie.attempt)  # a no-op for a stale attempt
    assert store.heartbeat([(zombie.id, zombie.attempt)], 30).lost == frozenset({zombie.id})
    [info] = store.list_tasks(job.id)
    assert info.state is TaskState.RUNNING and info.attempt == live.attempt
    assert info.failures == 0
    store.complete_task(live.id, live.attempt, progress=[pv("p", 10, 10)])
    got = store.get_job(job.id)
    assert got.state is JobState.COMPLETED
    assert [(p.label, p.total, p.done) for p in got.progress] == [("p", 10, 10)]


def test_completed_attempt_cannot_complete_twice(store: Store) -> None:
    submit(store)
    ct = claim_one(store)
    store.complete_task(ct.id, ct.attempt)
    with pytest.raises(LeaseLostError):
        store.complete_task(ct.id, ct.attempt)
    with pytest.raises(LeaseLostError):
        store.fail_task(ct.id, ct.attempt, error(), None)


def test_complete_tasks_commits_many_and_reports_the_fenced(store: Store) -> None:
    from conveyor.store import Completion

    jobs = [submit(store) for _ in range(3)]
    claimed = store.claim("w", [KIND], limit=3, lease_seconds=SHORT)
    _expire()
    stolen = claim_one(store, lease_seconds=30)  # the first one moves to attempt 2
    lost = store.complete_tasks([Completion(ct.id, ct.attempt) for ct in claimed])
    assert lost == {stolen.id}
    states = [store.get_job(j.id).state for j in jobs]
    assert states == [JobState.STARTED, JobState.COMPLETED, JobState.COMPLETED]


def test_complete_tasks_of_one_job_in_one_commit(store: Store) -> None:
    """A batch spanning a whole fan-out: dependents promoted and the job completed once."""
    from conveyor.store import Completion

    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(
        root.id, root.attempt, subtasks=[task(), task(), task("join", depends_on=[0, 1])]
    )
    a, b = store.claim("w", [KIND], limit=5)
    assert store.claim("w", ["join@v1"]) == []
    lost = store.complete_tasks(
        [
            Completion(a.id, a.attempt, progress=(pv("p", 2, 1),)),
            Completion(b.id, b.attempt, progress=(pv("p", 2, 1),)),
            Completion(b.id, b.attempt),  # listed twice: committed once, the first one counts
        ]
    )
    assert lost == set()
    assert store.get_job(job.id).state is JobState.STARTED
    join = claim_one(store, ["join@v1"])  # both of its dependencies completed together
    store.complete_task(join.id, join.attempt)
    got = store.get_job(job.id)
    assert got.state is JobState.COMPLETED
    assert [(p.label, p.total, p.done) for p in got.progress] == [("p", 4, 2)]
    states = [e.data["state"] for e in store.events_after(job.id) if e.type == "state"]
    assert states == ["QUEUED", "STARTED", "COMPLETED"]


def test_release_hands_a_task_back_without_cost(store: Store) -> None:
    job = submit(store, root=task(max_retries=0))
    ct = claim_one(store)
    store.flush_progress(ct.id, ct.attempt, [pv(None, 5, 2)], 30)
    store.release_task(ct.id, ct.attempt)
    [info] = store.list_tasks(job.id)
    assert info.state is TaskState.QUEUED and info.failures == 0 and info.lease_losses == 0
    assert [(p.label, p.total, p.done) for p in store.job_progress(job.id)] == [(None, 0, 0)]
    again = claim_one(store)
    assert again.id == ct.id and again.attempt == 2
    with pytest.raises(LeaseLostError):
        store.complete_task(ct.id, ct.attempt)
