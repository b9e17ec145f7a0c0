"""The job cache's rows: committed with an attempt's completion, fenced like the rest of it."""

from __future__ import annotations

import time
import uuid

from conveyor.store import CacheEntry, Completion, Store

from .support import KIND, claim_one, submit, task

SHORT = 0.15


def _complete(store: Store, *entries: CacheEntry) -> uuid.UUID:
    """A job whose root completes with ``entries``; its id."""
    job = submit(store)
    ct = claim_one(store)
    assert store.complete_tasks([Completion(ct.id, ct.attempt, cache=entries)]) == set()
    return job.id


def test_entries_are_stored_with_the_completion_and_read_back(store: Store) -> None:
    big = bytes(range(256)) * 300
    job_id = _complete(
        store,
        CacheEntry("a", 3, value=b"abc", shared_key="jobs/x/a.png"),
        CacheEntry("g/b", 0, value=b""),
        CacheEntry("g/c", len(big), blob_key="jobs/x/attempts/t-1/g/c"),
        CacheEntry("gx", 1, value=b"\x00"),
    )
    assert store.get_cache_entry(job_id, "a") == CacheEntry(
        "a", 3, value=b"abc", shared_key="jobs/x/a.png"
    )
    assert store.get_cache_entry(job_id, "g/b") == CacheEntry("g/b", 0, value=b"")
    assert store.get_cache_entry(job_id, "g/c") == CacheEntry(
        "g/c", len(big), blob_key="jobs/x/attempts/t-1/g/c"
    )
    assert store.get_cache_entry(job_id, "gx") == CacheEntry("gx", 1, value=b"\x00")
    assert store.get_cache_entry(job_id, "missing") is None
    assert store.get_cache_entry(uuid.uuid4(), "a") is None
    assert store.list_cache_keys(job_id) == ["a", "g/b", "g/c", "gx"]
    assert store.list_cache_keys(job_id, "g/") == ["g/b", "g/c"]
    assert store.list_cache_keys(job_id, "%") == []  # a prefix, not a pattern
    assert store.list_cache_keys(uuid.uuid4()) == []


def test_many_entries_are_read_at_once(store: Store) -> None:
    keys = [f"image-{i}.png" for i in range(300)]
    job_id = _complete(store, *(CacheEntry(k, 1, value=k.encode()) for k in keys[:-1]))
    other = _complete(store, CacheEntry(keys[-1], 1, value=b"other job's"))
    found = store.get_cache_entries(job_id, [*keys, keys[0], "g/%", "missing"])
    assert found == {k: CacheEntry(k, 1, value=k.encode()) for k in keys[:-1]}
    assert store.get_cache_entries(job_id, []) == {}
    assert store.get_cache_entries(other, keys[:2]) == {}
    assert store.get_cache_entries(uuid.uuid4(), keys) == {}


def test_a_later_completion_replaces_an_entry(store: Store) -> None:
    job = submit(store, root=task("root"))
    root = claim_one(store, ["root@v1"])
    first = Completion(
        root.id, root.attempt, subtasks=(task(),), cache=(CacheEntry("k", 3, value=b"old"),)
    )
    assert store.complete_tasks([first]) == set()
    child = claim_one(store)
    second = Completion(child.id, child.attempt, cache=(CacheEntry("k", 1, blob_key="b/k"),))
    assert store.complete_tasks([second]) == set()
    assert store.get_cache_entry(job.id, "k") == CacheEntry("k", 1, blob_key="b/k")
    assert store.list_cache_keys(job.id) == ["k"]


def test_an_attempt_that_lost_its_lease_caches_nothing(store: Store) -> None:
    """Only the last execution counts: the zombie's late commit changes no entry."""
    job = submit(store)
    zombie = claim_one(store, lease_seconds=SHORT)
    time.sleep(SHORT + 0.1)
    (newer,) = store.claim("w2", [KIND], lease_seconds=30)
    assert newer.attempt == zombie.attempt + 1
    done = Completion(newer.id, newer.attempt, cache=(CacheEntry("k", 5, value=b"newer"),))
    assert store.complete_tasks([done]) == set()
    late = Completion(zombie.id, zombie.attempt, cache=(CacheEntry("k", 6, value=b"zombie"),))
    assert store.complete_tasks([late]) == {zombie.id}
    assert store.get_cache_entry(job.id, "k") == CacheEntry("k", 5, value=b"newer")


def test_entries_of_a_batch_commit_go_to_their_own_jobs(store: Store) -> None:
    jobs = [submit(store).id for _ in range(3)]
    claimed = sorted(store.claim("w", [KIND], limit=3), key=lambda ct: jobs.index(ct.job_id))
    completions = [
        Completion(ct.id, ct.attempt, cache=(CacheEntry("k", 1, value=str(i).encode()),))
        for i, ct in enumerate(claimed)
    ]
    assert store.complete_tasks(completions) == set()
    assert [store.get_cache_entry(j, "k") for j in jobs] == [
        CacheEntry("k", 1, value=str(i).encode()) for i in range(3)
    ]
