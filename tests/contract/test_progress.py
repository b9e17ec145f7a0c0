"""Progress: absolute values per attempt, sums over tasks, label order, progress events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from conveyor.models import Job, ProgressIndicator
from conveyor.store import ClaimedTask, ProgressFlush, Store

from .support import KIND, claim_one, error, pv, submit, task


def _values(store: Store, job_id: UUID) -> list[tuple[str | None, int, int]]:
    return [(p.label, p.total, p.done) for p in store.job_progress(job_id)]


def _spawn(store: Store, n: int, **task_kwargs: Any) -> tuple[Job, list[ClaimedTask]]:
    """A started job whose root spawned ``n`` subtasks; returns (job, claimed subtasks)."""
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task(**task_kwargs) for _ in range(n)])
    return job, store.claim("w", [KIND], limit=n)


def test_flushes_are_absolute_and_summed_over_tasks(store: Store) -> None:
    job, (a, b) = _spawn(store, 2)
    store.flush_progress(a.id, a.attempt, [pv("frames", 10, 3)], 30)
    store.flush_progress(a.id, a.attempt, [pv("frames", 10, 4)], 30)  # replaces, not adds
    store.flush_progress(b.id, b.attempt, [pv("frames", 5, 5), pv(None, 1, 0)], 30)
    assert _values(store, job.id) == [("frames", 15, 9), (None, 1, 0)]
    got = store.get_job(job.id)
    assert got.progress == [ProgressIndicator("frames", 15, 9), ProgressIndicator(None, 1, 0)]


def test_labels_keep_first_seen_order(store: Store) -> None:
    job, (a, b) = _spawn(store, 2)
    store.flush_progress(a.id, a.attempt, [pv("z", 1, 0)], 30)
    store.flush_progress(b.id, b.attempt, [pv("a", 1, 0), pv("z", 1, 1)], 30)
    store.flush_progress(a.id, a.attempt, [pv("m", 1, 0), pv("a", 2, 1)], 30)
    assert [label for label, *_ in _values(store, job.id)] == ["z", "a", "m"]


def test_final_progress_commits_with_completion(store: Store) -> None:
    job, (a,) = _spawn(store, 1)
    store.flush_progress(a.id, a.attempt, [pv("p", 4, 1)], 30)
    store.complete_task(a.id, a.attempt, progress=[pv("p", 4, 4), pv("q", 1, 1)])
    assert _values(store, job.id) == [("p", 4, 4), ("q", 1, 1)]


def test_only_the_last_attempt_counts(store: Store) -> None:
    job, (a,) = _spawn(store, 1, max_retries=2)
    store.flush_progress(a.id, a.attempt, [pv("p", 10, 7)], 30)
    store.fail_task(a.id, a.attempt, error(), retry_at=time.time())
    assert _values(store, job.id) == [("p", 0, 0)]  # the failed attempt's progress is gone
    again = claim_one(store)
    assert again.attempt == a.attempt + 1
    store.flush_progress(again.id, again.attempt, [pv("p", 10, 2)], 30)
    assert _values(store, job.id) == [("p", 10, 2)]
    store.complete_task(again.id, again.attempt, progress=[pv("p", 10, 10)])
    assert _values(store, job.id) == [("p", 10, 10)]


def test_root_progress_and_subtask_progress_add_up(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(
        root.id,
        root.attempt,
        progress=[pv(None, 3, 0)],
        subtasks=[task() for _ in range(3)],
    )
    for ct in store.claim("w", [KIND], limit=3):
        store.complete_task(ct.id, ct.attempt, progress=[pv(None, 0, 1)])
    assert _values(store, job.id) == [(None, 3, 3)]


def test_each_flush_appends_a_progress_event(store: Store) -> None:
    job, (a,) = _spawn(store, 1)
    store.flush_progress(a.id, a.attempt, [pv("p", 2, 1)], 30)
    store.complete_task(a.id, a.attempt, progress=[pv("p", 2, 2)])
    progress = [e.data["progress"] for e in store.events_after(job.id) if e.type == "progress"]
    assert progress == [
        [{"label": "p", "total": 2, "done": 1}],
        [{"label": "p", "total": 2, "done": 2}],
    ]


def test_one_flush_of_many_attempts_and_jobs(store: Store) -> None:
    """A runner flushes a whole batch at once: attempts of several jobs, new labels of one
    job introduced by two of its attempts, a label two attempts share. Each job gets its
    labels in first-seen order and one progress event with its sums, in flush order."""
    job1, (a, b) = _spawn(store, 2)
    job2, (c,) = _spawn(store, 1)
    store.flush_progress(a.id, a.attempt, [pv("old", 1, 0)], 30)
    seen = {job1.id: len(store.events_after(job1.id)), job2.id: len(store.events_after(job2.id))}
    flushes = [
        ProgressFlush(c.id, c.attempt, (pv("y", 3, 1), pv("x", 2, 2))),
        ProgressFlush(a.id, a.attempt, (pv("b", 4, 1), pv("a", 1, 1), pv("old", 1, 1))),
        ProgressFlush(b.id, b.attempt, (pv("a", 5, 2), pv("c", 1, 0))),
    ]
    status = store.flush_progress_many(flushes, 30)
    assert status.lost == frozenset() and status.cancelled == frozenset()
    assert _values(store, job1.id) == [("old", 1, 1), ("b", 4, 1), ("a", 6, 3), ("c", 1, 0)]
    assert _values(store, job2.id) == [("y", 3, 1), ("x", 2, 2)]
    for job_id, labels in ((job1.id, ["old", "b", "a", "c"]), (job2.id, ["y", "x"])):
        new = store.events_after(job_id)[seen[job_id] :]
        assert [e.type for e in new] == ["progress"]
        assert [p["label"] for p in new[0].data["progress"]] == labels
    ids = {e.job_id: e.id for j in (job1.id, job2.id) for e in store.events_after(j)[-1:]}
    assert ids[job2.id] < ids[job1.id]  # the job flushed first got its event first
    # A later flush adds a label after those, and only the values it names change.
    store.flush_progress(b.id, b.attempt, [pv("d", 1, 1)], 30)
    assert [label for label, *_ in _values(store, job1.id)] == ["old", "b", "a", "c", "d"]
    assert _values(store, job1.id)[2] == ("a", 6, 3)


def test_flush_without_values_only_renews(store: Store) -> None:
    job, (a,) = _spawn(store, 1)
    before = len(store.events_after(job.id))
    status = store.flush_progress(a.id, a.attempt, [], 30)
    assert status.lost == frozenset() and status.cancelled == frozenset()
    assert len(store.events_after(job.id)) == before


def test_concurrent_flushes_leave_an_exact_last_event(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    """Each progress event sums every flush committed before it, even from other processes'
    concurrent transactions: the last one equals the final progress."""
    n, steps = 6, 15
    job, claimed = _spawn(store, n)
    assert len(claimed) == n
    barrier = threading.Barrier(n)

    def work(s: Store, ct: ClaimedTask) -> None:
        barrier.wait()
        for step in range(1, steps + 1):
            s.flush_progress(ct.id, ct.attempt, [pv("steps", steps, step)], 30)
        s.complete_task(ct.id, ct.attempt, progress=[pv("steps", steps, steps)])

    threads = [threading.Thread(target=work, args=(open_stores(), ct)) for ct in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _values(store, job.id) == [("steps", n * steps, n * steps)]
    events = [e for e in store.events_after(job.id) if e.type == "progress"]
    assert events[-1].data["progress"] == [
        {"label": "steps", "total": n * steps, "done": n * steps}
    ]
    done = [e.data["progress"][0]["done"] for e in events]
    assert done == sorted(done)  # never goes backwards
