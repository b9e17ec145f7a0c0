"""The client side of the store: submit, read, cancel and retry jobs; read the event log."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from conveyor.exceptions import ConflictError, InvalidStateError
from conveyor.models import Event, Job, JobState, ProgressIndicator, TaskInfo, TaskState
from conveyor.store import _rows
from conveyor.store._domain import DomainMixin
from conveyor.store.records import NewJob

__all__ = ["JobsMixin"]


class JobsMixin(DomainMixin):
    """Job operations of the Store protocol (mixed into ``SqlStore``)."""

    def create_job(self, job: NewJob) -> Job:
        with self.db.transaction() as tx:
            if job.idempotency_key is not None:
                row = tx.one("find_idempotent_job", tenant=job.tenant, key=job.idempotency_key)
                if row is not None:
                    if row["request_hash"] != job.request_hash:
                        raise ConflictError(
                            "Idempotency-Key was already used with a different request"
                        )
                    return self._job(tx, _rows.uuid_of(row["id"]))
            # Whole microseconds: Job.submitted_at (a datetime) then round-trips to the stored
            # float exactly, so (submitted_at, id) cursors and since/until filters are exact.
            now = round(time.time(), 6)
            webhook_events = (
                json.dumps(job.webhook_events) if job.webhook_events is not None else None
            )
            tx.send(
                "insert_job",
                id=str(job.id),
                tenant=job.tenant,
                name=job.name,
                now=now,
                callback_url=job.callback_url,
                webhook_events=webhook_events,
                idempotency_key=job.idempotency_key,
                request_hash=job.request_hash,
            )
            self._insert_tasks(tx, job.id, None, [job.root], TaskState.QUEUED, now)
            self._event(tx, job.id, "state", {"state": JobState.QUEUED.value}, now)
            # The row just inserted, without reading it back: a new job has no progress
            # and no results yet.
            row = {
                "id": str(job.id),
                "name": job.name,
                "state": JobState.QUEUED.value,
                "submitted_at": now,
                "started_at": None,
                "finished_at": None,
                "error": None,
                "tenant": job.tenant,
                "callback_url": job.callback_url,
                "webhook_events": webhook_events,
            }
            return _rows.job(row, [], [])

    def get_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        with self.db.transaction(write=False) as tx:
            return self._job(tx, job_id, tenant)

    def query_jobs(
        self,
        *,
        states: Sequence[JobState] | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before: tuple[float, UUID] | None = None,
        tenant: str | None = None,
    ) -> list[Job]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "query_jobs",
                states=[JobState(s).value for s in states] if states else None,
                name=name,
                since=_rows.epoch(since),
                until=_rows.epoch(until),
                tenant=tenant,
                before_ts=before[0] if before else None,
                before_id=str(before[1]) if before else None,
                limit=max(1, min(int(limit), 10_000)),
            )
            return [self._job_from_row(tx, row) for row in rows]

    def job_progress(self, job_id: UUID) -> list[ProgressIndicator]:
        with self.db.transaction(write=False) as tx:
            return self._progress(tx, job_id)

    def list_tasks(self, job_id: UUID) -> list[TaskInfo]:
        with self.db.transaction(write=False) as tx:
            deps: dict[int, list[UUID]] = {}
            for row in tx.all("list_task_deps", job_id=str(job_id)):
                deps.setdefault(row["task_seq"], []).append(_rows.uuid_of(row["dep_id"]))
            return [
                TaskInfo(
                    id=_rows.uuid_of(r["id"]),
                    job_id=_rows.uuid_of(r["job_id"]),
                    parent_id=_rows.uuid_of(r["parent_id"]) if r["parent_id"] else None,
                    identifier=r["identifier"],
                    version=r["version"],
                    state=TaskState(r["state"]),
                    attempt=r["attempt"],
                    failures=r["failures"],
                    lease_losses=r["lease_losses"],
                    max_retries=r["max_retries"],
                    optional=bool(r["optional"]),
                    depends_on=deps.get(r["seq"], []),
                    input=json.loads(r["input"]),
                    created_at=_rows.ts(r["created_at"]),  # type: ignore[arg-type]
                    started_at=_rows.ts(r["started_at"]),
                    finished_at=_rows.ts(r["finished_at"]),
                    error=_rows.error_info(r["error"]),
                    worker_id=r["worker_id"],
                )
                for r in tx.all("list_tasks", job_id=str(job_id))
            ]

    def cancel_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        with self.db.transaction() as tx:
            row = self._job_row(tx, job_id, tenant)
            state = JobState(row["state"])
            if state.terminal:
                raise InvalidStateError(f"job {job_id} is already {state.value}")
            now = time.time()
            tx.send("cancel_queued_tasks", job_id=str(job_id), now=now)
            tx.send("recount_pending", id=str(job_id))
            self._transition(tx, row, JobState.CANCELED, now)
            return self._job(tx, job_id)

    def retry_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        with self.db.transaction() as tx:
            row = self._job_row(tx, job_id, tenant)
            state = JobState(row["state"])
            if state not in (JobState.FAILED, JobState.CANCELED):
                raise InvalidStateError(
                    f"only FAILED or CANCELED jobs can be retried; job {job_id} is {state.value}"
                )
            now = time.time()
            tx.send("requeue_job_tasks", job_id=str(job_id))
            pending = tx.one("recount_pending", id=str(job_id))
            new_state = JobState.STARTED if row["started_at"] is not None else JobState.QUEUED
            if pending is not None and pending["pending_tasks"] == 0:
                new_state = JobState.COMPLETED
            self._transition(tx, row, new_state, now)
            return self._job(tx, job_id)

    def queue_position(self, job_id: UUID) -> int | None:
        with self.db.transaction(write=False) as tx:
            row = tx.one("queue_position", job_id=str(job_id))
            return None if row is None else int(row["ahead"])

    def has_pending_work(self, kinds: Sequence[str]) -> bool:
        with self.db.transaction(write=False) as tx:
            row = tx.one("pending_work", kinds=list(kinds))
            return bool(row and row["pending"])

    def count_jobs_by_state(self) -> dict[JobState, int]:
        with self.db.transaction(write=False) as tx:
            counts = {state: 0 for state in JobState}
            for row in tx.all("count_jobs_by_state"):
                counts[JobState(row["state"])] = int(row["n"])
            return counts

    # -- events ------------------------------------------------------------------------------
    def events_after(self, job_id: UUID, after_id: int = 0, limit: int = 1000) -> list[Event]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all("events_after", job_id=str(job_id), after_id=after_id, limit=limit)
            return [_rows.event(r) for r in rows]

    def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all("events_since", after_id=after_id, limit=limit)
            return [_rows.event(r) for r in rows]

    def last_event_id(self) -> int:
        with self.db.transaction(write=False) as tx:
            row = tx.one("last_event_id")
            return int(row["id"]) if row else 0
