"""Claims: kinds, limits, order, contention between threads and processes, batches."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

from conveyor.models import JobState, TaskState
from conveyor.store import NewTask, Store

from ._claimer import claim_until_empty
from .support import KIND, claim_one, error, event_types, submit, task


def test_claim_leases_a_task_and_starts_its_job(store: Store) -> None:
    root = task(data={"x": 1}, max_retries=3)
    job = submit(store, root=root)
    before = time.time()
    ct = claim_one(store, lease_seconds=30)
    assert ct.id == root.id and ct.job_id == job.id
    assert (ct.identifier, ct.version, ct.kind) == (root.identifier, root.version, KIND)
    assert ct.input_json == root.input_json
    assert (ct.attempt, ct.failures, ct.max_retries, ct.optional) == (1, 0, 3, False)
    assert before + 29 < ct.lease_expires_at < time.time() + 31
    assert ct.batch_key is None
    got = store.get_job(job.id)
    assert got.state is JobState.STARTED and got.started_at is not None
    [info] = store.list_tasks(job.id)
    assert info.state is TaskState.RUNNING and info.worker_id == "w" and info.attempt == 1
    assert event_types(store, job.id) == [("state", "QUEUED"), ("state", "STARTED")]
    assert store.claim("w", [KIND]) == []


def test_claim_only_registered_kinds(store: Store) -> None:
    submit(store, root=task("other"))
    assert store.claim("w", [KIND]) == []
    assert store.claim("w", []) == []
    assert claim_one(store, ["other@v1"]).identifier == "other"
    submit(store, root=task(version="v2"))
    assert store.claim("w", [KIND]) == []


def test_claim_several_in_submission_order(store: Store) -> None:
    ids = [submit(store, root=task()).id for _ in range(5)]
    first = store.claim("w", [KIND], limit=3)
    assert [ct.job_id for ct in first] == ids[:3]
    rest = store.claim("w", [KIND], limit=10)
    assert [ct.job_id for ct in rest] == ids[3:]
    assert all(store.get_job(i).state is JobState.STARTED for i in ids)


def test_claim_several_kinds_oldest_first(store: Store) -> None:
    """Each kind is read from its own end of the queue; the claim still takes the oldest."""
    kinds = ["a", "b", "a", "c", "b", "a"]
    ids = [submit(store, root=task(k)).id for k in kinds]
    first = store.claim("w", ["c@v1", "b@v1", "a@v1"], limit=4)
    assert [ct.job_id for ct in first] == ids[:4]
    rest = store.claim("w", ["a@v1", "b@v1", "c@v1"], limit=10)
    assert [ct.job_id for ct in rest] == ids[4:]


def test_a_claim_takes_one_long_task_and_nothing_queued_after_it(store: Store) -> None:
    """Short tasks before the first long one, then that one; the rest stays queued for
    other runners, oldest first."""
    kinds = ["a", "b", "a", "long", "a", "long", "b", "long2"]
    ids = [submit(store, root=task(k)).id for k in kinds]

    def claim(limit: int) -> list[uuid.UUID]:
        every = ["a@v1", "b@v1", "long@v1", "long2@v1"]
        claimed = store.claim("w", every, limit=limit, long_kinds={"long@v1", "long2@v1"})
        return [ct.job_id for ct in claimed]

    assert claim(10) == ids[:4]
    assert claim(10) == ids[4:6]
    assert claim(1) == [ids[6]]  # the limit still counts every task
    assert claim(10) == [ids[7]]  # of two long kinds, one task too
    assert claim(10) == []


def test_a_long_task_first_in_line_is_claimed_alone(store: Store) -> None:
    long_job = submit(store, root=task("long")).id
    short = [submit(store, root=task()).id for _ in range(3)]
    kinds = ["long@v1", KIND]
    [first] = store.claim("w", kinds, limit=10, long_kinds=["long@v1"])
    assert first.job_id == long_job
    assert [ct.job_id for ct in store.claim("w", kinds, limit=10, long_kinds=["long@v1"])] == short


def test_long_kinds_a_claim_does_not_ask_for_change_nothing(store: Store) -> None:
    ids = [submit(store, root=task()).id for _ in range(3)]
    submit(store, root=task("long"))
    claimed = store.claim("w", [KIND], limit=5, long_kinds={"long@v1"})
    assert [ct.job_id for ct in claimed] == ids


def test_claim_skips_queued_tasks_of_a_failed_job(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task(), task()])
    first = claim_one(store)
    store.fail_task(first.id, first.attempt, error(), retry_at=None)
    assert store.get_job(job.id).state is JobState.FAILED
    assert store.claim("w", [KIND], limit=5) == []  # its sibling stays QUEUED, unclaimed


def test_claim_skips_cancelled_jobs_and_tasks_in_backoff(store: Store) -> None:
    cancelled = submit(store)
    store.cancel_job(cancelled.id)
    job = submit(store, root=task(max_retries=1))
    ct = claim_one(store)
    assert ct.job_id == job.id
    assert store.fail_task(ct.id, ct.attempt, error(), retry_at=time.time() + 60) is True
    assert store.claim("w", [KIND]) == []


def test_task_in_backoff_becomes_claimable(store: Store) -> None:
    submit(store, root=task(max_retries=1))
    ct = claim_one(store)
    store.fail_task(ct.id, ct.attempt, error(), retry_at=time.time() + 0.2)
    assert store.claim("w", [KIND]) == []
    time.sleep(0.3)
    again = claim_one(store)
    assert again.id == ct.id and again.attempt == 2 and again.failures == 1


def test_threads_claim_each_task_once(store: Store, open_stores: Callable[[], Store]) -> None:
    n = 120
    for i in range(n):
        submit(store, f"j{i}")
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker(s: Store, limit: int) -> None:
        start.wait()
        while batch := s.claim(f"t{limit}", [KIND], limit=limit):
            with lock:
                claimed.extend(str(ct.id) for ct in batch)
            for ct in batch:
                s.complete_task(ct.id, ct.attempt)

    threads = [threading.Thread(target=worker, args=(open_stores(), 1 + i % 4)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(claimed)
    assert len(counts) == n and set(counts.values()) == {1}
    assert store.count_jobs_by_state()[JobState.COMPLETED] == n


def test_processes_claim_each_task_once(store: Store, store_url: str) -> None:
    n = 500  # enough that a fast claimer cannot drain them before the others start
    for i in range(n):
        submit(store, f"j{i}")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[str]] = ctx.Queue()
    start = ctx.Barrier(4)
    procs = [
        ctx.Process(target=claim_until_empty, args=(store_url, KIND, start, limit, out))
        for limit in (1, 2, 5)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(60)
        per_process = [out.get(timeout=120) for _ in procs]
        claimed = [task_id for ids in per_process for task_id in ids]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    counts = Counter(claimed)
    assert len(counts) == n and set(counts.values()) == {1}, counts.most_common(3)
    assert sum(1 for ids in per_process if ids) >= 2, [len(i) for i in per_process]  # competed
    assert store.count_jobs_by_state()[JobState.COMPLETED] == n


def _batch_subtasks(store: Store, key: str, n: int, other: int = 0) -> None:
    job = submit(store, root=task("root"))
    ct = claim_one(store, ["root@v1"])
    subtasks = [task("img", batch_key=key) for _ in range(n)]
    subtasks += [task("img", batch_key="other") for _ in range(other)]
    subtasks += [task("img") for _ in range(other)]
    store.complete_task(ct.id, ct.attempt, subtasks=subtasks)
    assert store.get_job(job.id).state is JobState.STARTED


def test_claim_batch_takes_tasks_with_the_same_key(store: Store) -> None:
    _batch_subtasks(store, "k", 5, other=2)
    first = claim_one(store, ["img@v1"])
    assert first.batch_key == "k"
    more = store.claim_batch("w", "img@v1", "k", limit=3)
    assert len(more) == 3 and all(ct.batch_key == "k" and ct.attempt == 1 for ct in more)
    assert first.id not in {ct.id for ct in more}
    last = store.claim_batch("w", "img@v1", "k", limit=10)
    assert len(last) == 1
    assert store.claim_batch("w", "img@v1", "k", limit=10) == []
    assert store.claim_batch("w", "img@v1", "other", limit=0) == []
    assert len(store.claim_batch("w", "img@v1", "other", limit=10)) == 2
    assert store.claim_batch("w", "other@v1", "k", limit=10) == []


def test_claim_batch_under_contention(store: Store, open_stores: Callable[[], Store]) -> None:
    _batch_subtasks(store, "k", 60)
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(s: Store) -> None:
        while True:
            batch = s.claim_batch("w", "img@v1", "k", limit=4)
            if not batch:
                return
            with lock:
                claimed.extend(str(ct.id) for ct in batch)

    threads = [threading.Thread(target=worker, args=(open_stores(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claimed) == len(set(claimed)) == 60


def test_claimed_tasks_of_a_new_batch_keep_their_fields(store: Store) -> None:
    job = submit(store, root=task("root"))
    ct = claim_one(store, ["root@v1"])
    sub: NewTask = task("img", data={"i": 7}, max_retries=2, optional=True, batch_key="k")
    store.complete_task(ct.id, ct.attempt, subtasks=[sub])
    got = claim_one(store, ["img@v1"])
    assert (got.id, got.job_id, got.max_retries, got.optional, got.batch_key) == (
        sub.id,
        job.id,
        2,
        True,
        "k",
    )
    assert got.input_json == sub.input_json
