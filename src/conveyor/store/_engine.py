"""Store logic shared by every engine: the domain rules, written once over named queries.

Engines (``sqlite.py``, ``postgres.py``) only provide a Connector and their SQL
files; the rules about fencing, retries, DAG promotion, job completion, events
and the webhook outbox live here so both engines behave the same by construction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from conveyor.exceptions import ConflictError, InvalidStateError, JobNotFoundError, LeaseLostError
from conveyor.models import (
    ErrorInfo,
    Event,
    Job,
    JobState,
    ProgressIndicator,
    ResultInfo,
    TaskInfo,
    TaskState,
)
from conveyor.store._api import ApiStoreMixin
from conveyor.store._connector import Connector, Row, Transaction
from conveyor.store._outbox import OutboxMixin
from conveyor.store._retention import RetentionMixin
from conveyor.store._wakeup import WakeupMixin
from conveyor.store.records import (
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewJob,
    NewResult,
    NewTask,
    ProgressValue,
)

__all__ = ["DEFAULT_WEBHOOK_EVENTS", "SqlStore"]

#: Job events that trigger a webhook when the client does not choose.
DEFAULT_WEBHOOK_EVENTS = ("job.completed", "job.failed", "job.canceled")
_LIVE_JOB_STATES = (JobState.QUEUED.value, JobState.STARTED.value)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _error(text: str | None) -> ErrorInfo | None:
    return ErrorInfo.from_dict(json.loads(text)) if text else None


def _label_key(label: str | None) -> str:
    return "" if label is None else label


def _claimed(r: Row) -> ClaimedTask:
    return ClaimedTask(
        id=_uuid(r["id"]),
        job_id=_uuid(r["job_id"]),
        identifier=r["identifier"],
        version=r["version"],
        input_json=r["input"],
        attempt=r["attempt"],
        failures=r["failures"],
        max_retries=r["max_retries"],
        optional=bool(r["optional"]),
        lease_expires_at=r["lease_expires_at"],
        batch_key=r["batch_key"],
    )


class SqlStore(ApiStoreMixin, OutboxMixin, RetentionMixin, WakeupMixin):
    """The Store protocol implemented over a Connector."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.url = connector.url

    def close(self) -> None:
        self.db.close()

    # -- jobs --------------------------------------------------------------------------------
    def create_job(self, job: NewJob) -> Job:
        with self.db.transaction() as tx:
            if job.idempotency_key is not None:
                row = tx.one("find_idempotent_job", tenant=job.tenant, key=job.idempotency_key)
                if row is not None:
                    if row["request_hash"] != job.request_hash:
                        raise ConflictError(
                            "Idempotency-Key was already used with a different request"
                        )
                    return self._job(tx, _uuid(row["id"]))
            # Whole microseconds: Job.submitted_at (a datetime) then round-trips to the stored
            # float exactly, so (submitted_at, id) cursors and since/until filters are exact.
            now = round(time.time(), 6)
            tx.run(
                "insert_job",
                id=str(job.id),
                tenant=job.tenant,
                name=job.name,
                now=now,
                callback_url=job.callback_url,
                webhook_events=(
                    json.dumps(job.webhook_events) if job.webhook_events is not None else None
                ),
                idempotency_key=job.idempotency_key,
                request_hash=job.request_hash,
            )
            self._insert_tasks(tx, job.id, None, [job.root], TaskState.QUEUED, now)
            self._event(tx, job.id, "state", {"state": JobState.QUEUED.value}, now)
            return self._job(tx, job.id)

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
                since=_epoch(since),
                until=_epoch(until),
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
                deps.setdefault(row["task_seq"], []).append(_uuid(row["dep_id"]))
            return [
                TaskInfo(
                    id=_uuid(r["id"]),
                    job_id=_uuid(r["job_id"]),
                    parent_id=_uuid(r["parent_id"]) if r["parent_id"] else None,
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
                    created_at=_ts(r["created_at"]),  # type: ignore[arg-type]
                    started_at=_ts(r["started_at"]),
                    finished_at=_ts(r["finished_at"]),
                    error=_error(r["error"]),
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
            tx.run("cancel_queued_tasks", job_id=str(job_id), now=now)
            tx.one("recount_pending", id=str(job_id))
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
            tx.run("requeue_job_tasks", job_id=str(job_id))
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

    # -- runner side -------------------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        max_lease_losses: int = 5,
    ) -> list[ClaimedTask]:
        kinds = list(kinds)
        with self.db.transaction() as tx:
            now = time.time()
            expires = now + lease_seconds
            rows = list(
                tx.all(
                    "claim_ready",
                    worker_id=worker_id,
                    expires=expires,
                    now=now,
                    kinds=kinds,
                    limit=limit,
                )
            )
            if len(rows) < limit:
                rows += self._reclaim_expired(
                    tx, worker_id, kinds, limit - len(rows), now, expires, max_lease_losses
                )
            started: set[str] = set()
            for row in rows:
                job_id = str(row["job_id"])
                if job_id not in started:
                    started.add(job_id)
                    job = tx.one("get_job", id=job_id)
                    if job is not None and job["state"] == JobState.QUEUED.value:
                        self._transition(tx, job, JobState.STARTED, now)
            return [_claimed(r) for r in rows]

    def claim_batch(
        self,
        worker_id: str,
        kind: str,
        batch_key: str,
        *,
        limit: int,
        lease_seconds: float = 30.0,
    ) -> list[ClaimedTask]:
        if limit <= 0:
            return []
        with self.db.transaction() as tx:
            now = time.time()
            rows = tx.all(
                "claim_batch",
                worker_id=worker_id,
                expires=now + lease_seconds,
                now=now,
                kind=kind,
                batch_key=batch_key,
                limit=limit,
            )
            for job_id in {str(r["job_id"]) for r in rows}:
                job = tx.one("get_job", id=job_id)
                if job is not None and job["state"] == JobState.QUEUED.value:
                    self._transition(tx, job, JobState.STARTED, now)
            return [_claimed(r) for r in rows]

    def _reclaim_expired(
        self,
        tx: Transaction,
        worker_id: str,
        kinds: list[str],
        limit: int,
        now: float,
        expires: float,
        max_lease_losses: int,
    ) -> list[Row]:
        claimed: list[Row] = []
        for row in tx.all("expired_leases", now=now, kinds=kinds, limit=limit):
            if row["lease_losses"] + 1 > max_lease_losses:
                error = ErrorInfo(
                    "LeaseLostError",
                    f"task lost its lease {row['lease_losses'] + 1} times (its worker crashed, "
                    "was killed or stalled past the lease); giving up",
                    task_id=_uuid(row["id"]),
                )
                failed = tx.one(
                    "fail_lease_losses",
                    seq=row["seq"],
                    now=now,
                    state=TaskState.FAILED.value,
                    error=json.dumps(error.to_dict()),
                )
                if failed is not None:
                    tx.run("delete_task_progress", seq=row["seq"])
                    self._task_finished(tx, failed, TaskState.FAILED, now, error)
                continue
            reclaimed = tx.one(
                "reclaim_task", seq=row["seq"], worker_id=worker_id, expires=expires, now=now
            )
            if reclaimed is not None:
                tx.run("delete_task_progress", seq=row["seq"])
                claimed.append(reclaimed)
        return claimed

    def heartbeat(self, leases: Sequence[tuple[UUID, int]], lease_seconds: float) -> LeaseStatus:
        if not leases:
            return LeaseStatus()
        with self.db.transaction() as tx:
            expires = time.time() + lease_seconds
            lost = {
                task_id
                for task_id, attempt in leases
                if tx.one("renew_lease", id=str(task_id), attempt=attempt, expires=expires) is None
            }
            return LeaseStatus(frozenset(lost), self._cancelled(tx, [t for t, _ in leases]))

    def flush_progress(
        self,
        task_id: UUID,
        attempt: int,
        values: Sequence[ProgressValue],
        lease_seconds: float,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> LeaseStatus:
        with self.db.transaction() as tx:
            now = time.time()
            row = tx.one(
                "renew_lease", id=str(task_id), attempt=attempt, expires=now + lease_seconds
            )
            if row is None:
                return LeaseStatus(lost=frozenset({task_id}))
            if values:
                self._write_progress(tx, row, attempt, values, now)
            for type_, data in events:
                self._event(tx, _uuid(row["job_id"]), type_, {**data, "task_id": str(task_id)}, now)
            return LeaseStatus(cancelled=self._cancelled(tx, [task_id]))

    def complete_task(
        self,
        task_id: UUID,
        attempt: int,
        *,
        progress: Sequence[ProgressValue] = (),
        subtasks: Sequence[NewTask] = (),
        results: Sequence[NewResult] = (),
    ) -> None:
        completion = Completion(task_id, attempt, tuple(progress), tuple(subtasks), tuple(results))
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            if not self._complete(tx, completion, time.time()):
                raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")

    def complete_tasks(self, completions: Sequence[Completion]) -> set[UUID]:
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [c.task_id for c in completions])
            now = time.time()
            return {c.task_id for c in completions if not self._complete(tx, c, now)}

    def _complete(self, tx: Transaction, c: Completion, now: float) -> bool:
        row = tx.one(
            "finish_attempt",
            id=str(c.task_id),
            attempt=c.attempt,
            state=TaskState.COMPUTED.value,
            now=now,
            error=None,
        )
        if row is None:
            return False
        job_id = _uuid(row["job_id"])
        if c.progress:
            self._write_progress(tx, row, c.attempt, c.progress, now)
        for result in c.results:
            tx.run(
                "insert_result",
                job_id=str(job_id),
                name=result.name,
                content_type=result.content_type,
                size=result.size,
                blob_key=result.blob_key,
                task_id=str(c.task_id),
                now=now,
            )
        if c.subtasks:
            job = tx.one("get_job", id=str(job_id))
            live = job is not None and job["state"] in _LIVE_JOB_STATES
            state = TaskState.QUEUED if live else TaskState.CANCELED
            self._insert_tasks(tx, job_id, c.task_id, c.subtasks, state, now)
        self._task_finished(tx, row, TaskState.COMPUTED, now)
        return True

    def fail_task(
        self, task_id: UUID, attempt: int, error: ErrorInfo, retry_at: float | None
    ) -> bool:
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            now = time.time()
            current = tx.one("running_attempt", id=str(task_id), attempt=attempt)
            if current is None:
                raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")
            error_json = json.dumps(error.to_dict())
            tx.run("delete_task_progress", seq=current["seq"])
            if retry_at is not None and current["failures"] < current["max_retries"]:
                tx.one(
                    "requeue_attempt",
                    id=str(task_id),
                    attempt=attempt,
                    run_after=retry_at,
                    error=error_json,
                )
                return True
            state = TaskState.FAILED_OPTIONAL if current["optional"] else TaskState.FAILED
            row = tx.one(
                "finish_attempt",
                id=str(task_id),
                attempt=attempt,
                state=state.value,
                now=now,
                error=error_json,
            )
            assert row is not None
            self._task_finished(tx, row, state, now, error)
            return False

    def ack_cancel(self, task_id: UUID, attempt: int) -> None:
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            now = time.time()
            row = tx.one(
                "finish_attempt",
                id=str(task_id),
                attempt=attempt,
                state=TaskState.CANCELED.value,
                now=now,
                error=None,
            )
            if row is None:
                raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")
            tx.run("delete_task_progress", seq=row["seq"])
            self._task_finished(tx, row, TaskState.CANCELED, now)

    def release_task(self, task_id: UUID, attempt: int) -> None:
        with self.db.transaction() as tx:
            row = tx.one("release_attempt", id=str(task_id), attempt=attempt)
            if row is not None:
                tx.run("delete_task_progress", seq=row["seq"])

    # -- events ------------------------------------------------------------------------------
    def events_after(self, job_id: UUID, after_id: int = 0, limit: int = 1000) -> list[Event]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all("events_after", job_id=str(job_id), after_id=after_id, limit=limit)
            return [self._event_from_row(r) for r in rows]

    def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        with self.db.transaction(write=False) as tx:
            rows = tx.all("events_since", after_id=after_id, limit=limit)
            return [self._event_from_row(r) for r in rows]

    def last_event_id(self) -> int:
        with self.db.transaction(write=False) as tx:
            row = tx.one("last_event_id")
            return int(row["id"]) if row else 0

    # -- internals ---------------------------------------------------------------------------
    def _insert_tasks(
        self,
        tx: Transaction,
        job_id: UUID,
        parent_id: UUID | None,
        tasks: Sequence[NewTask],
        state: TaskState,
        now: float,
    ) -> None:
        seqs: list[int] = []
        for index, task in enumerate(tasks):
            if any(not 0 <= dep < index for dep in task.depends_on):
                raise ValueError("depends_on may only name earlier tasks of the same batch")
            row = tx.one(
                "insert_task",
                id=str(task.id),
                job_id=str(job_id),
                parent_id=str(parent_id) if parent_id else None,
                identifier=task.identifier,
                version=task.version,
                kind=task.kind,
                batch_key=task.batch_key,
                input=task.input_json,
                state=state.value,
                max_retries=task.max_retries,
                optional=task.optional,
                remaining_deps=len(set(task.depends_on)),
                now=now,
            )
            assert row is not None
            seqs.append(row["seq"])
            for dep in sorted(set(task.depends_on)):
                tx.run("insert_task_dep", task_seq=row["seq"], dep_seq=seqs[dep])
        if parent_id is not None and state is TaskState.QUEUED:
            tx.one("adjust_pending", id=str(job_id), delta=len(tasks))

    def _lock_jobs(self, tx: Transaction, task_ids: Sequence[UUID]) -> None:
        """Lock the jobs of these tasks first, in one global order (by id), before any of
        their task rows: concurrent commits on PostgreSQL then cannot deadlock on job and
        dependent rows. (A plain read on SQLite, whose write transactions take turns.)"""
        tx.all("lock_jobs_of_tasks", ids=[str(t) for t in task_ids])

    def _task_finished(
        self,
        tx: Transaction,
        row: Row,
        state: TaskState,
        now: float,
        error: ErrorInfo | None = None,
    ) -> None:
        """Bookkeeping after a task reached a terminal state: dependents, job completion."""
        if state in (TaskState.COMPUTED, TaskState.FAILED_OPTIONAL):
            tx.run("release_dependents", seq=row["seq"])
        job_id = str(row["job_id"])
        counts = tx.one("adjust_pending", id=job_id, delta=-1)
        job = tx.one("get_job", id=job_id)
        if job is None or counts is None or job["state"] not in _LIVE_JOB_STATES:
            return
        if state is TaskState.FAILED:
            self._transition(tx, job, JobState.FAILED, now, error)
        elif counts["pending_tasks"] <= 0:
            self._transition(tx, job, JobState.COMPLETED, now)

    def _transition(
        self,
        tx: Transaction,
        job: Row,
        state: JobState,
        now: float,
        error: ErrorInfo | None = None,
    ) -> None:
        """Change a job's state, with its event and webhook outbox row, in one transaction.

        The update is conditional on the state read earlier, so two transactions racing
        on one job (two runners, or a cancel and a completion) emit the change once.
        """
        changed = tx.run(
            "set_job_state",
            id=str(job["id"]),
            state=state.value,
            from_state=job["state"],
            now=now,
            error=json.dumps(error.to_dict()) if error else None,
            finished_at=now if state.terminal else None,
        )
        if changed != 1:
            return
        data: dict[str, Any] = {"state": state.value}
        if error is not None:
            data["error"] = error.to_dict()
        self._event(tx, _uuid(job["id"]), "state", data, now)
        if job["callback_url"]:
            event_type = f"job.{state.value.lower()}"
            wanted = (
                json.loads(job["webhook_events"])
                if job["webhook_events"] is not None
                else DEFAULT_WEBHOOK_EVENTS
            )
            if event_type in wanted:
                payload = {
                    "type": event_type,
                    "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
                    "data": {"job_id": str(job["id"]), "name": job["name"], **data},
                }
                tx.run(
                    "insert_outbox",
                    id=f"msg_{uuid.uuid4().hex}",
                    job_id=str(job["id"]),
                    tenant=job["tenant"],
                    url=job["callback_url"],
                    event_type=event_type,
                    payload=json.dumps(payload),
                    now=now,
                )

    def _event(
        self, tx: Transaction, job_id: UUID, type_: str, data: dict[str, Any], now: float
    ) -> None:
        tx.one("insert_event", job_id=str(job_id), type=type_, data=json.dumps(data), now=now)

    def _write_progress(
        self, tx: Transaction, row: Row, attempt: int, values: Sequence[ProgressValue], now: float
    ) -> None:
        job_id = str(row["job_id"])
        for value in values:
            label = _label_key(value.label)
            tx.run("insert_label", job_id=job_id, label=label)
            tx.run(
                "upsert_progress",
                seq=row["seq"],
                job_id=job_id,
                label=label,
                attempt=attempt,
                total=value.total,
                done=value.done,
            )
        progress = self._progress(tx, _uuid(job_id))
        self._event(
            tx,
            _uuid(job_id),
            "progress",
            {"progress": [{"label": p.label, "total": p.total, "done": p.done} for p in progress]},
            now,
        )

    def _cancelled(self, tx: Transaction, task_ids: list[UUID]) -> frozenset[UUID]:
        rows = tx.all("job_states_of_tasks", ids=[str(t) for t in task_ids])
        return frozenset(_uuid(r["id"]) for r in rows if r["state"] == JobState.CANCELED.value)

    def _progress(self, tx: Transaction, job_id: UUID) -> list[ProgressIndicator]:
        return [
            ProgressIndicator(r["label"] or None, int(r["total"]), int(r["done"]))
            for r in tx.all("job_progress", job_id=str(job_id))
        ]

    def _job_row(self, tx: Transaction, job_id: UUID, tenant: str | None = None) -> Row:
        row = tx.one("get_job", id=str(job_id))
        if row is None or (tenant is not None and row["tenant"] != tenant):
            raise JobNotFoundError(f"job {job_id} not found")
        return row

    def _job(self, tx: Transaction, job_id: UUID, tenant: str | None = None) -> Job:
        return self._job_from_row(tx, self._job_row(tx, job_id, tenant))

    def _job_from_row(self, tx: Transaction, row: Row) -> Job:
        job_id = _uuid(row["id"])
        results = [
            ResultInfo(
                r["name"],
                r["content_type"],
                int(r["size"]),
                r["blob_key"],
                _uuid(r["task_id"]) if r["task_id"] else None,
            )
            for r in tx.all("job_results", job_id=str(job_id))
        ]
        return Job(
            id=job_id,
            name=row["name"],
            state=JobState(row["state"]),
            submitted_at=_ts(row["submitted_at"]),  # type: ignore[arg-type]
            started_at=_ts(row["started_at"]),
            finished_at=_ts(row["finished_at"]),
            error=_error(row["error"]),
            progress=self._progress(tx, job_id),
            tenant=row["tenant"],
            callback_url=row["callback_url"],
            webhook_events=(
                json.loads(row["webhook_events"]) if row["webhook_events"] is not None else None
            ),
            results=results,
        )

    @staticmethod
    def _event_from_row(row: Row) -> Event:
        return Event(
            id=int(row["id"]),
            job_id=_uuid(row["job_id"]),
            type=row["type"],
            data=json.loads(row["data"]),
            created_at=_ts(row["created_at"]),  # type: ignore[arg-type]
        )
