"""The event log: per-job and global reads, ids in commit order under concurrent writers."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable

from conveyor.exceptions import InvalidStateError
from conveyor.store import Store

from .support import KIND, claim_one, pv, run_all, submit, task


def test_a_jobs_events_in_order(store: Store) -> None:
    job = submit(store)
    ct = claim_one(store)
    store.flush_progress(ct.id, ct.attempt, [pv("p", 2, 1)], 30)
    store.complete_task(ct.id, ct.attempt)
    events = store.events_after(job.id)
    assert [(e.type, e.data.get("state")) for e in events] == [
        ("state", "QUEUED"),
        ("state", "STARTED"),
        ("progress", None),
        ("state", "COMPLETED"),
    ]
    assert all(e.job_id == job.id for e in events)
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e.created_at.tzinfo is not None for e in events)
    assert store.events_after(job.id, after_id=ids[1]) == events[2:]
    assert store.events_after(job.id, after_id=ids[0], limit=2) == events[1:3]
    assert store.events_after(uuid.uuid4()) == []


def test_events_since_spans_jobs(store: Store) -> None:
    assert store.last_event_id() == 0
    assert store.events_since(0) == []
    a = submit(store)
    b = submit(store)
    run_all(store)
    events = store.events_since(0)
    assert {e.job_id for e in events} == {a.id, b.id}
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert store.last_event_id() == events[-1].id
    assert store.events_since(events[2].id) == events[3:]
    assert store.events_since(0, limit=3) == events[:3]
    assert store.events_since(store.last_event_id()) == []


def test_failed_state_event_carries_the_error(store: Store) -> None:
    from .support import error

    job = submit(store)
    ct = claim_one(store)
    store.fail_task(ct.id, ct.attempt, error("kaput"), retry_at=None)
    last = store.events_after(job.id)[-1]
    assert last.data["state"] == "FAILED"
    assert last.data["error"]["message"] == "kaput"


def test_task_events_are_fenced_like_progress(store: Store) -> None:
    job = submit(store)
    ct = claim_one(store, lease_seconds=0.1)
    store.flush_progress(ct.id, ct.attempt, [], 0.1, events=[("preview", {"step": 1})])
    [preview] = [e for e in store.events_after(job.id) if e.type == "preview"]
    assert preview.data == {"step": 1, "task_id": str(ct.id)}
    time.sleep(0.2)
    claim_one(store)  # reclaimed: the old attempt's events are refused
    store.flush_progress(ct.id, ct.attempt, [], 30, events=[("preview", {"step": 2})])
    assert [e.data["step"] for e in store.events_after(job.id) if e.type == "preview"] == [1]


def test_tailing_reader_sees_every_id_once_under_concurrent_writers(
    store: Store, open_stores: Callable[[], Store]
) -> None:
    """Ids must become visible in commit order: a reader polling events_since(last) while
    many transactions write events concurrently must never skip one."""
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def tail(s: Store) -> None:
        last = 0
        while True:
            finished = stop.is_set()
            batch = s.events_since(last, limit=500)
            seen.extend(e.id for e in batch)
            if batch:
                last = batch[-1].id
            elif finished:
                return

    def write(s: Store, n: int) -> None:
        try:
            for i in range(n):
                job = submit(s, f"w{i}", root=task("root"))
                [ct] = s.claim("w", ["root@v1"], limit=1) or [None]
                if ct is not None:
                    s.flush_progress(ct.id, ct.attempt, [pv("p", 2, 1)], 30)
                    s.complete_task(ct.id, ct.attempt, progress=[pv("p", 2, 2)])
                if i % 7 == 0:
                    with contextlib.suppress(InvalidStateError):  # another writer finished it
                        s.cancel_job(job.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=tail, args=(open_stores(),))
    writers = [threading.Thread(target=write, args=(open_stores(), 40)) for _ in range(6)]
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    stop.set()
    reader.join(60)
    assert errors == []
    every = [e.id for e in store.events_since(0, limit=100_000)]
    assert len(every) > 6 * 40 * 2
    assert seen == every  # each id once, in order, none skipped
    assert len(set(seen)) == len(seen)


def test_events_of_unclaimed_kinds_do_not_exist(store: Store) -> None:
    # Submitting writes exactly one event; nothing is written for kinds no runner asked for.
    submit(store, root=task("nobody"))
    assert [e.data for e in store.events_since(0)] == [{"state": "QUEUED"}]
    assert store.claim("w", [KIND]) == []
    assert len(store.events_since(0)) == 1


def test_flush_progress_many_writes_a_batch_in_one_go(store: Store) -> None:
    """Several running attempts (a batch spanning two jobs): every attempt's progress, its
    published events, one progress event per job; a lost attempt and a cancelled job are
    reported."""
    from conveyor.store import ProgressFlush

    first = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    store.complete_task(root.id, root.attempt, subtasks=[task(), task()])
    second = submit(store)
    a, b, c = store.claim("w", [KIND], limit=3)
    assert {a.job_id, b.job_id, c.job_id} == {first.id, second.id}
    gone = ProgressFlush(uuid.uuid4(), 1, (pv("p", 5, 5),))  # holds no lease
    status = store.flush_progress_many(
        [
            ProgressFlush(a.id, a.attempt, (pv("p", 2, 1),), (("preview", {"step": 1}),)),
            ProgressFlush(b.id, b.attempt, (pv("p", 2, 2),)),
            ProgressFlush(c.id, c.attempt, (pv("q", 3, 1),)),
            gone,
        ],
        30,
    )
    assert status.lost == frozenset({gone.task_id})
    assert status.cancelled == frozenset()
    progress = {p.label: (p.done, p.total) for p in store.get_job(first.id).progress}
    assert progress["p"] == (3, 4)
    events = store.events_after(first.id)
    assert [e.type for e in events].count("progress") == 1
    preview = [e for e in events if e.type == "preview"]
    assert len(preview) == 1 and preview[0].data == {"step": 1, "task_id": str(a.id)}
    assert [p.label for p in store.get_job(second.id).progress] == ["q"]
    assert [e.type for e in store.events_after(second.id)].count("progress") == 1

    store.cancel_job(first.id)
    status = store.flush_progress_many([ProgressFlush(a.id, a.attempt)], 30)
    assert status.cancelled == frozenset({a.id})
    assert store.flush_progress_many([], 30).lost == frozenset()
