"""Retention: delete old events and finished jobs in small transactions.

Deleting a large backlog in one statement would hold locks and bloat one
transaction for minutes; small batches (``batch_size`` events, a tenth as many
jobs with all their rows, per transaction) let claims and commits interleave,
so cleanup never blocks the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from conveyor.store._connector import Connector

__all__ = ["RetentionMixin"]

#: Queries deleting a batch of finished jobs, children first.
_JOB_DELETES = (
    "delete_progress_of_jobs",
    "delete_labels_of_jobs",
    "delete_task_deps_of_jobs",
    "delete_results_of_jobs",
    "delete_cache_of_jobs",
    "delete_events_of_jobs",
    "delete_outbox_of_jobs",
    "delete_deliveries_of_jobs",
    "delete_tasks_of_jobs",
    "delete_jobs",
)


class RetentionMixin:
    """``cleanup``: the retention policy of the event log and of finished jobs."""

    db: Connector

    def cleanup(
        self,
        *,
        event_retention_seconds: float | None = None,
        job_retention_seconds: float | None = None,
        now: float | None = None,
        batch_size: int = 1000,
        on_jobs_deleted: Callable[[list[UUID]], None] | None = None,
    ) -> dict[str, int]:
        """Delete events older than the event retention, and jobs finished longer ago than
        the job retention with everything that belongs to them.

        Retentions default to the settings (``CONVEYOR_EVENT_RETENTION_SECONDS``,
        ``CONVEYOR_JOB_RETENTION_SECONDS``); 0 keeps forever. ``on_jobs_deleted``
        gets each batch of deleted job ids after it committed (to delete their
        blobs). Returns ``{"jobs": n, "events": n}``: rows deleted.
        """
        if event_retention_seconds is None or job_retention_seconds is None:
            from conveyor.settings import Settings

            settings = Settings()
            if event_retention_seconds is None:
                event_retention_seconds = settings.event_retention_seconds
            if job_retention_seconds is None:
                job_retention_seconds = settings.job_retention_seconds
        now = time.time() if now is None else now
        batch_size = max(1, batch_size)
        counts = {"jobs": 0, "events": 0}
        if job_retention_seconds > 0:
            counts["jobs"] = self._delete_jobs(
                now - job_retention_seconds, max(1, batch_size // 10), on_jobs_deleted
            )
        if event_retention_seconds > 0:
            counts["events"] = self._delete_events(now - event_retention_seconds, batch_size)
        return counts

    def _delete_jobs(
        self, cutoff: float, batch: int, on_deleted: Callable[[list[UUID]], None] | None
    ) -> int:
        deleted = 0
        while True:
            with self.db.transaction() as tx:
                ids = [str(r["id"]) for r in tx.all("expired_jobs", cutoff=cutoff, limit=batch)]
                if ids:
                    for query in _JOB_DELETES:
                        tx.run(query, ids=ids)
            deleted += len(ids)
            if ids and on_deleted is not None:
                on_deleted([UUID(i) for i in ids])
            if len(ids) < batch:
                return deleted

    def _delete_events(self, cutoff: float, batch: int) -> int:
        # Event ids follow commit order, so "older than the cutoff" is an id range: find
        # its end once, then delete by primary key in batches.
        with self.db.transaction(write=False) as tx:
            row = tx.one("event_retention_boundary", cutoff=cutoff)
        boundary = int(row["id"]) if row else 0
        deleted = 0
        while True:
            with self.db.transaction() as tx:
                n = tx.run("delete_events_before", before=boundary, limit=batch)
            deleted += n
            if n < batch:
                return deleted
