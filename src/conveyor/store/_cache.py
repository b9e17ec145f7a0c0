"""The job cache's rows: written with a successful attempt's completion, read by tasks.

Keeping the index (and small values) in the database instead of the blob store alone
makes a cache write part of the completion transaction: fenced by the attempt like
everything else it commits, so only the last successful execution of a task counts, and
a worker that lost its lease cannot overwrite what the task's newer attempt cached. It
also saves a file (and a folder) per entry on a local disk and a request per read on S3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from conveyor.store._connector import Connector, Transaction
from conveyor.store.records import CacheEntry, Completion

__all__ = ["CacheMixin", "write_cache_entries"]


def write_cache_entries(
    tx: Transaction, attempts: Sequence[tuple[str, Completion]], now: float
) -> None:
    """Store the cache writes of attempts that hold their lease (``(job id, completion)``
    each) in one statement, however many a batch commits."""
    rows = [
        {
            "job_id": job_id,
            "key": e.key,
            "size": e.size,
            "value": e.value,
            "blob_key": e.blob_key,
            "shared_key": e.shared_key,
            "task_id": str(c.task_id),
            "attempt": c.attempt,
            "now": now,
        }
        for job_id, c in attempts
        for e in c.cache
    ]
    if rows:
        tx.send_many("upsert_cache_entry", rows)


def _entry(row: Any) -> CacheEntry:
    value = row["value"]
    return CacheEntry(
        row["key"],
        int(row["size"]),
        None if value is None else bytes(value),
        row["blob_key"],
        row["shared_key"],
    )


class CacheMixin:
    """Job cache reads of the Store protocol (mixed into ``SqlStore``)."""

    db: Connector

    def get_cache_entry(self, job_id: UUID, key: str) -> CacheEntry | None:
        with self.db.transaction(write=False) as tx:
            row = tx.one("get_cache_entry", job_id=str(job_id), key=key)
        return None if row is None else _entry(row)

    def get_cache_entries(self, job_id: UUID, keys: Sequence[str]) -> dict[str, CacheEntry]:
        if not keys:
            return {}
        with self.db.transaction(write=False) as tx:
            rows = tx.all("get_cache_entries", job_id=str(job_id), keys=list(dict.fromkeys(keys)))
        return {row["key"]: _entry(row) for row in rows}

    def list_cache_keys(self, job_id: UUID, prefix: str = "") -> list[str]:
        with self.db.transaction(write=False) as tx:
            return [r["key"] for r in tx.all("list_cache_keys", job_id=str(job_id), prefix=prefix)]
