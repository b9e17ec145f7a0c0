"""Subtasks and dependencies: promotion, optional failures, job completion and failure."""

from __future__ import annotations

import time

import pytest

from conveyor.models import JobState, TaskState
from conveyor.store import NewResult, Store

from .support import KIND, claim_one, error, submit, task


def _kinds(store: Store) -> list[str]:
    return sorted(ct.identifier for ct in store.claim("w", ["a@v1", "b@v1", "c@v1", KIND], limit=9))


def test_dependents_run_after_their_dependencies(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    a, b, c = task("a"), task("b", depends_on=[0]), task("c", depends_on=[0, 1])
    store.complete_task(root.id, root.attempt, subtasks=[a, b, c])
    infos = {i.identifier: i for i in store.list_tasks(job.id)}
    assert infos["a"].parent_id == root.id and infos["a"].depends_on == []
    assert infos["b"].depends_on == [a.id]
    assert sorted(map(str, infos["c"].depends_on)) == sorted([str(a.id), str(b.id)])
    assert [i.identifier for i in store.list_tasks(job.id)] == ["root", "a", "b", "c"]

    [ca] = store.claim("w", ["a@v1", "b@v1", "c@v1"], limit=9)
    assert ca.id == a.id
    assert store.claim("w", ["b@v1", "c@v1"], limit=9) == []
    store.complete_task(ca.id, ca.attempt)
    [cb] = store.claim("w", ["b@v1", "c@v1"], limit=9)
    assert cb.id == b.id
    store.complete_task(cb.id, cb.attempt)
    assert store.get_job(job.id).state is JobState.STARTED
    [cc] = store.claim("w", ["c@v1"], limit=9)
    store.complete_task(cc.id, cc.attempt)
    got = store.get_job(job.id)
    assert got.state is JobState.COMPLETED and got.finished_at is not None
    assert all(i.state is TaskState.COMPUTED for i in store.list_tasks(job.id))


def test_subtasks_of_subtasks(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task("a")])
    a = claim_one(store, ["a@v1"])
    store.complete_task(a.id, a.attempt, subtasks=[task("b"), task("b")])
    assert store.get_job(job.id).state is JobState.STARTED
    for ct in store.claim("w", ["b@v1"], limit=5):
        store.complete_task(ct.id, ct.attempt)
    assert store.get_job(job.id).state is JobState.COMPLETED
    assert [i.parent_id for i in store.list_tasks(job.id)] == [None, root.id, a.id, a.id]


def test_forward_or_self_dependencies_are_refused(store: Store) -> None:
    submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    with pytest.raises(ValueError):
        store.complete_task(root.id, root.attempt, subtasks=[task("a", depends_on=[0])])
    with pytest.raises(ValueError):
        store.complete_task(root.id, root.attempt, subtasks=[task("a", depends_on=[1]), task()])
    store.complete_task(root.id, root.attempt)  # nothing of the refused commits was kept


def test_optional_failure_releases_dependents(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(
        root.id, root.attempt, subtasks=[task("a", optional=True), task("b", depends_on=[0])]
    )
    a = claim_one(store, ["a@v1"])
    assert store.fail_task(a.id, a.attempt, error("optional"), retry_at=None) is False
    b = claim_one(store, ["b@v1"])
    store.complete_task(b.id, b.attempt)
    got = store.get_job(job.id)
    assert got.state is JobState.COMPLETED and got.error is None
    states = {i.identifier: i.state for i in store.list_tasks(job.id)}
    assert states["a"] is TaskState.FAILED_OPTIONAL


def test_failure_fails_the_job_and_stops_the_rest(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task("a"), task("b"), task("c")])
    a = claim_one(store, ["a@v1"])
    b = claim_one(store, ["b@v1"])
    assert store.fail_task(a.id, a.attempt, error("bad input"), retry_at=None) is False
    got = store.get_job(job.id)
    assert got.state is JobState.FAILED and got.finished_at is not None
    assert got.error is not None and got.error.message == "bad input"
    assert store.claim("w", ["c@v1"]) == []  # the job is over
    store.complete_task(b.id, b.attempt)  # a task already running may still finish
    assert store.get_job(job.id).state is JobState.FAILED
    assert not store.has_pending_work(["a@v1", "b@v1", "c@v1"])


def test_retries_then_failure(store: Store) -> None:
    job = submit(store, root=task(max_retries=2))
    for attempt in (1, 2):
        ct = claim_one(store)
        assert (ct.attempt, ct.failures) == (attempt, attempt - 1)
        assert store.fail_task(ct.id, ct.attempt, error(f"try {attempt}"), time.time()) is True
        [info] = store.list_tasks(job.id)
        assert info.state is TaskState.QUEUED and info.failures == attempt
        assert info.error is not None and info.error.message == f"try {attempt}"
    ct = claim_one(store)
    assert ct.failures == 2
    assert store.fail_task(ct.id, ct.attempt, error("last"), time.time()) is False
    assert store.get_job(job.id).state is JobState.FAILED


def test_no_retry_time_means_no_retry(store: Store) -> None:
    job = submit(store, root=task(max_retries=3))
    ct = claim_one(store)
    assert store.fail_task(ct.id, ct.attempt, error(), retry_at=None) is False
    assert store.get_job(job.id).state is JobState.FAILED


def test_results_are_recorded_with_the_commit(store: Store) -> None:
    job = submit(store)
    ct = claim_one(store)
    results = [
        NewResult("a.png", "image/png", 10, f"jobs/{job.id}/results/a.png"),
        NewResult("b.json", "application/json", 2, f"jobs/{job.id}/results/b.json"),
    ]
    store.complete_task(ct.id, ct.attempt, results=results)
    got = store.get_job(job.id)
    assert [(r.name, r.content_type, r.size, r.blob_key, r.task_id) for r in got.results] == [
        ("a.png", "image/png", 10, f"jobs/{job.id}/results/a.png", ct.id),
        ("b.json", "application/json", 2, f"jobs/{job.id}/results/b.json", ct.id),
    ]


def test_subtasks_committed_after_cancel_are_cancelled(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.cancel_job(job.id)
    store.complete_task(root.id, root.attempt, subtasks=[task("a"), task("b")])
    states = [i.state for i in store.list_tasks(job.id)]
    assert states == [TaskState.COMPUTED, TaskState.CANCELED, TaskState.CANCELED]
    assert store.claim("w", ["a@v1", "b@v1"]) == []
    assert store.get_job(job.id).state is JobState.CANCELED


def test_roots_of_several_jobs_fan_out_in_one_commit(store: Store) -> None:
    """One commit of many roots (what a runner's prefetch brings): each job gets its own
    subtasks, edges, pending count and results, and a cancelled job's subtasks are born
    cancelled while the others' are queued."""
    from conveyor.store import Completion

    jobs = [submit(store, root=task("root")) for _ in range(3)]
    roots = store.claim("w", ["root@v1"], limit=3)
    assert len(roots) == 3
    store.cancel_job(jobs[1].id)
    fans = {ct.job_id: [task("a"), task("a"), task("b", depends_on=[0, 1])] for ct in roots}
    lost = store.complete_tasks(
        [
            Completion(
                ct.id,
                ct.attempt,
                subtasks=tuple(fans[ct.job_id]),
                results=(NewResult("r.txt", "text/plain", 1, f"jobs/{ct.job_id}/r.txt"),),
            )
            for ct in roots
        ]
    )
    assert lost == set()
    live = [jobs[0].id, jobs[2].id]
    for job in jobs:
        infos = {i.id: i for i in store.list_tasks(job.id)}
        a0, a1, b = fans[job.id]
        assert sorted(map(str, infos[b.id].depends_on)) == sorted([str(a0.id), str(a1.id)])
        expected = TaskState.QUEUED if job.id in live else TaskState.CANCELED
        assert [infos[t.id].state for t in fans[job.id]] == [expected] * 3
        assert [r.name for r in store.get_job(job.id).results] == ["r.txt"]
    assert store.claim("w", ["b@v1"]) == []  # each b waits for its own job's two a's
    firsts = store.claim("w", ["a@v1"], limit=9)
    assert sorted(ct.job_id for ct in firsts) == sorted([live[0], live[0], live[1], live[1]])
    store.complete_tasks([Completion(ct.id, ct.attempt) for ct in firsts if ct.job_id == live[0]])
    [b] = store.claim("w", ["b@v1"])
    assert b.job_id == live[0]
    store.complete_task(b.id, b.attempt)
    assert store.get_job(live[0]).state is JobState.COMPLETED
    assert store.get_job(live[1]).state is JobState.STARTED  # its pending count is its own
    assert store.get_job(jobs[1].id).state is JobState.CANCELED
