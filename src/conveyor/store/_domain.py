"""The domain rules every store operation shares, written once over named queries.

Inserting tasks (with their DAG edges), locking jobs before their tasks, the
bookkeeping after tasks finish (DAG promotion, the pending counter, job
completion or failure), and job state transitions with their event and webhook
outbox row in the same transaction.

Statements whose result is not needed at once go through ``Transaction.send``:
PostgreSQL pipelines them with the next statement whose result is read, instead
of paying a round trip each. So the pending counter is updated by a statement
that finds the attempts this transaction ended by (id, attempt, state,
finished_at) rather than by reading them first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from conveyor.exceptions import JobNotFoundError
from conveyor.ids import new_id
from conveyor.models import ErrorInfo, Job, JobState, ProgressIndicator, TaskState
from conveyor.store import _rows
from conveyor.store._connector import Connector, Row, Sent, Transaction
from conveyor.store.records import NewTask, ProgressValue

__all__ = ["DEFAULT_WEBHOOK_EVENTS", "LIVE_JOB_STATES", "DomainMixin", "TaskGroup"]

#: Job events that trigger a webhook when the client does not choose.
DEFAULT_WEBHOOK_EVENTS = ("job.completed", "job.failed", "job.canceled")
LIVE_JOB_STATES = (JobState.QUEUED.value, JobState.STARTED.value)


class TaskGroup(NamedTuple):
    """Tasks to insert into one job, under one parent (None: the job's root), in one state."""

    job_id: UUID
    parent_id: UUID | None
    tasks: Sequence[NewTask]
    state: TaskState


class DomainMixin:
    """Shared rules of ``SqlStore``; every method runs inside a caller's transaction."""

    db: Connector

    def _insert_tasks(
        self,
        tx: Transaction,
        job_id: UUID,
        parent_id: UUID | None,
        tasks: Sequence[NewTask],
        state: TaskState,
        now: float,
    ) -> None:
        self._insert_task_groups(tx, [TaskGroup(job_id, parent_id, tasks, state)], now)

    def _insert_task_groups(self, tx: Transaction, groups: Sequence[TaskGroup], now: float) -> None:
        """Insert groups of tasks (a job's root, or the subtasks one attempt submitted) with
        their DAG edges, in three statements however many groups a commit brings: a commit
        of 16 roots inserts their 32 subtasks at once, not 16 times."""
        tasks_rows: list[dict[str, Any]] = []
        edges: list[dict[str, str]] = []
        pending: dict[str, int] = {}
        for job_id, parent_id, tasks, state in groups:
            for index, task in enumerate(tasks):
                if any(not 0 <= dep < index for dep in task.depends_on):
                    raise ValueError("depends_on may only name earlier tasks of the same batch")
            job = str(job_id)
            parent = str(parent_id) if parent_id else None
            tasks_rows.extend(
                {
                    "id": str(task.id),
                    "job_id": job,
                    "parent_id": parent,
                    "identifier": task.identifier,
                    "version": task.version,
                    "kind": task.kind,
                    "batch_key": task.batch_key,
                    "input": task.input_json,
                    "state": state.value,
                    "max_retries": task.max_retries,
                    "optional": task.optional,
                    "remaining_deps": len(set(task.depends_on)),
                    "now": now,
                }
                for task in tasks
            )
            edges.extend(
                {"task_id": str(task.id), "dep_id": str(tasks[dep].id)}
                for task in tasks
                for dep in sorted(set(task.depends_on))
            )
            if parent_id is not None and state is TaskState.QUEUED:
                pending[job] = pending.get(job, 0) + len(tasks)
        if tasks_rows:
            tx.send_many("insert_task", tasks_rows)
        if edges:
            tx.send_many("insert_task_dep", edges)
        if pending:  # summed per job: UPDATE ... FROM applies one delta per job row
            tx.send("adjust_pending", ids=list(pending), deltas=list(pending.values()))

    def _lock_jobs(self, tx: Transaction, task_ids: Sequence[UUID]) -> Sent:
        """Lock the jobs of these tasks first, in one global order (by id), before any of
        their task rows: concurrent commits on PostgreSQL then cannot deadlock on job and
        dependent rows. (A plain read on SQLite, whose write transactions take turns.)

        Sent: its rows (id, state: current, since the job is locked) come with the next read.
        """
        return tx.send("lock_jobs_of_tasks", ids=[str(t) for t in task_ids])

    def _count_off(
        self,
        tx: Transaction,
        ended: Sequence[tuple[UUID, int]],
        state: TaskState,
        now: float,
    ) -> Sent:
        """Take the attempts this transaction just ended (moved to ``state`` at ``now``) off
        their jobs' pending counts: one statement, which needs no result of the statement
        that ended them. Sent: the updated job rows come with the next read."""
        return tx.send(
            "count_off_finished",
            ids=[str(task_id) for task_id, _ in ended],
            attempts=[attempt for _, attempt in ended],
            state=state.value,
            now=now,
        )

    def _after_finish(
        self,
        tx: Transaction,
        rows: Sequence[Row],
        jobs: Sequence[Row],
        state: TaskState,
        now: float,
        error: ErrorInfo | None = None,
    ) -> None:
        """Bookkeeping after tasks reached a terminal state: their dependents, and their jobs
        (``jobs``, from ``_count_off``) fail or complete.

        ``rows`` (with ``seq``, ``job_id``, ``has_dependents``) all reached ``state``.
        """
        if state in (TaskState.COMPUTED, TaskState.FAILED_OPTIONAL):
            seqs = [r["seq"] for r in rows if r["has_dependents"]]
            if seqs:
                tx.send("release_dependents", seqs=seqs)
        by_id = {str(job["id"]): job for job in jobs}
        for job_id in dict.fromkeys(str(r["job_id"]) for r in rows):  # first-finished order
            job = by_id.get(job_id)
            if job is None or job["state"] not in LIVE_JOB_STATES:
                continue
            if state is TaskState.FAILED:
                self._transition(tx, job, JobState.FAILED, now, error)
            elif job["pending_tasks"] <= 0:
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

        ``job`` needs only ``id`` and ``state`` (the state read earlier): the update is
        conditional on it, so two transactions racing on one job (two runners, or a cancel
        and a completion) emit the change once.
        """
        changed = tx.one(
            "set_job_state",
            id=str(job["id"]),
            state=state.value,
            from_state=job["state"],
            now=now,
            error=json.dumps(error.to_dict()) if error else None,
            finished_at=now if state.terminal else None,
        )
        if changed is not None:
            self._announce(tx, changed, state, now, error)

    def _announce(
        self,
        tx: Transaction,
        job: Row,
        state: JobState,
        now: float,
        error: ErrorInfo | None = None,
    ) -> None:
        """The event and (if the job wants it) the webhook outbox row of a state change that
        ``job`` (the updated row) just went through, in the same transaction."""
        changed = job
        data: dict[str, Any] = {"state": state.value}
        if error is not None:
            data["error"] = error.to_dict()
        job_id = str(changed["id"])
        self._event(tx, _rows.uuid_of(job_id), "state", data, now)
        if changed["callback_url"]:
            event_type = f"job.{state.value.lower()}"
            wanted = (
                json.loads(changed["webhook_events"])
                if changed["webhook_events"] is not None
                else DEFAULT_WEBHOOK_EVENTS
            )
            if event_type in wanted:
                payload = {
                    "type": event_type,
                    "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
                    "data": {"job_id": job_id, "name": changed["name"], **data},
                }
                tx.send(
                    "insert_outbox",
                    id=f"msg_{new_id().hex}",
                    job_id=job_id,
                    tenant=changed["tenant"],
                    url=changed["callback_url"],
                    event_type=event_type,
                    payload=json.dumps(payload),
                    now=now,
                )

    def _event(
        self,
        tx: Transaction,
        job_id: UUID,
        type_: str,
        data: dict[str, Any] | None,
        now: float,
    ) -> None:
        """Append an event (progress events come from ``_write_progress``, which has SQL
        compute the job's progress as the event is written)."""
        tx.send(
            "insert_event",
            job_id=str(job_id),
            type=type_,
            data=None if data is None else json.dumps(data),
            now=now,
        )

    def _write_progress(
        self,
        tx: Transaction,
        attempts: Sequence[tuple[Row, int, Sequence[ProgressValue]]],
        now: float,
    ) -> None:
        """Store attempts' absolute progress values (``row`` with seq and job_id, attempt,
        values), then one progress event per job they belong to: its sum, computed as the
        event is written, so one event covers every attempt of the job in this transaction."""
        # Three statements whatever the number of attempts: a runner flushes a whole batch
        # several times a second, and each statement hands the GIL to and from the thread
        # that drives the model.
        rows: dict[tuple[int, str], list[Any]] = {}  # (seq, label) -> its latest value
        labels: dict[tuple[str, str], None] = {}  # (job, label), first-seen order
        jobs: dict[str, None] = {}  # first-written order
        for row, attempt, values in attempts:
            job_id = str(row["job_id"])
            for value in values:
                label = _rows.label_key(value.label)
                labels[job_id, label] = None
                rows[row["seq"], label] = [
                    row["seq"],
                    job_id,
                    label,
                    attempt,
                    value.total,
                    value.done,
                ]
            if values:
                jobs[job_id] = None
        if not jobs:
            return
        tx.send("insert_labels", labels=json.dumps(list(labels)))
        tx.send("upsert_progress_rows", rows=json.dumps(list(rows.values())))
        tx.send("insert_progress_events", job_ids=list(jobs), now=now)

    def _cancelled(self, tx: Transaction, task_ids: list[UUID]) -> frozenset[UUID]:
        rows = tx.all("job_states_of_tasks", ids=[str(t) for t in task_ids])
        return frozenset(
            _rows.uuid_of(r["id"]) for r in rows if r["state"] == JobState.CANCELED.value
        )

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
        job_id = str(row["id"])
        results = [_rows.result(r) for r in tx.all("job_results", job_id=job_id)]
        return _rows.job(row, self._progress(tx, _rows.uuid_of(job_id)), results)
