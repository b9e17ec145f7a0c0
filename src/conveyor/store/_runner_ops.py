"""The runner side of the store: claims, leases, progress flushes and attempt outcomes.

These are the hot paths of the queue, so each works on sets: a claim is one
statement however many tasks it takes (runnable ones and expired leases
together), a heartbeat renews every lease in one statement, and a commit of N
successful attempts ends them, promotes their dependents and counts them off
their jobs in one statement each. Every write of an attempt is fenced by its
attempt number: a zombie worker that lost its lease changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from conveyor.exceptions import LeaseLostError
from conveyor.models import ErrorInfo, JobState, TaskState
from conveyor.store import _rows
from conveyor.store._connector import Row, Sent, Transaction
from conveyor.store._domain import LIVE_JOB_STATES, DomainMixin
from conveyor.store.records import (
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewResult,
    NewTask,
    ProgressValue,
)

__all__ = ["RunnerMixin"]


class RunnerMixin(DomainMixin):
    """Runner operations of the Store protocol (mixed into ``SqlStore``)."""

    def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        max_lease_losses: int = 5,
    ) -> list[ClaimedTask]:
        with self.db.transaction() as tx:
            now = time.time()
            expires = now + lease_seconds
            sent = tx.send(
                "claim_ready",
                worker_id=worker_id,
                expires=expires,
                now=now,
                kinds=list(kinds),
                limit=limit,
                max_lease_losses=max_lease_losses,
            )
            for job in self._start_jobs(tx, worker_id, expires, now):  # one round trip for both
                self._announce(tx, job, JobState.STARTED, now)
            claimed: list[Row] = []
            for row in sorted(sent.rows(), key=lambda r: r["seq"]):
                if row["exhausted"]:
                    self._fail_lease_losses(tx, row, now)
                else:
                    claimed.append(row)
            # A reclaimed task's lost attempt may have flushed progress: it is discarded.
            # (Only tasks that ever lost a lease can have any; a fresh claim has none.)
            stale = [r["seq"] for r in claimed if r["lease_losses"]]
            if stale:
                tx.send("delete_task_progress", seqs=stale)
            return [_rows.claimed_task(r) for r in claimed]

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
            expires = now + lease_seconds
            sent = tx.send(
                "claim_batch",
                worker_id=worker_id,
                expires=expires,
                now=now,
                kind=kind,
                batch_key=batch_key,
                limit=limit,
            )
            for job in self._start_jobs(tx, worker_id, expires, now):
                self._announce(tx, job, JobState.STARTED, now)
            return [_rows.claimed_task(r) for r in sent.rows()]

    def _start_jobs(self, tx: Transaction, worker_id: str, expires: float, now: float) -> list[Row]:
        """QUEUED jobs of the tasks just claimed become STARTED (conditionally, so racing
        claimers start a job once); the changed job rows, to announce."""
        return tx.all("start_claimed_jobs", worker_id=worker_id, expires=expires, now=now)

    def _fail_lease_losses(self, tx: Transaction, row: Row, now: float) -> None:
        """Fail a task that lost its lease once too often, instead of reclaiming it again."""
        error = ErrorInfo(
            "LeaseLostError",
            f"task lost its lease {row['lease_losses'] + 1} times (its worker crashed, "
            "was killed or stalled past the lease); giving up",
            task_id=_rows.uuid_of(row["id"]),
        )
        failed = tx.send(
            "fail_lease_losses",
            seq=row["seq"],
            now=now,
            state=TaskState.FAILED.value,
            error=json.dumps(error.to_dict()),
        )
        ended = [(_rows.uuid_of(row["id"]), row["attempt"])]
        jobs = self._count_off(tx, ended, TaskState.FAILED, now)
        if failed.rows():
            tx.send("delete_task_progress", seqs=[row["seq"]])
            self._after_finish(tx, failed.rows(), jobs.rows(), TaskState.FAILED, now, error)

    def heartbeat(self, leases: Sequence[tuple[UUID, int]], lease_seconds: float) -> LeaseStatus:
        if not leases:
            return LeaseStatus()
        with self.db.transaction() as tx:
            rows = self._renew(tx, leases, time.time() + lease_seconds)
            held = {(_rows.uuid_of(r["id"]), r["attempt"]) for r in rows}
            lost = frozenset(t for t, attempt in leases if (t, attempt) not in held)
            cancelled = {
                _rows.uuid_of(r["id"]) for r in rows if r["job_state"] == JobState.CANCELED.value
            }
            if lost:  # rare: report a lost lease's cancelled job too, as for a held one
                cancelled |= self._cancelled(tx, list(lost))
            return LeaseStatus(lost, frozenset(cancelled))

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
            rows = self._renew(tx, [(task_id, attempt)], now + lease_seconds)
            if not rows:
                return LeaseStatus(lost=frozenset({task_id}))
            row = rows[0]
            if values:
                self._write_progress(tx, row, attempt, values, now)
            for type_, data in events:
                job_id = _rows.uuid_of(row["job_id"])
                self._event(tx, job_id, type_, {**data, "task_id": str(task_id)}, now)
            cancelled = row["job_state"] == JobState.CANCELED.value
            return LeaseStatus(cancelled=frozenset({task_id}) if cancelled else frozenset())

    def _renew(
        self, tx: Transaction, leases: Sequence[tuple[UUID, int]], expires: float
    ) -> list[Row]:
        """Renew the leases still held; their rows (id, attempt, seq, job_id, job_state)."""
        return tx.all(
            "renew_leases",
            ids=[str(task_id) for task_id, _ in leases],
            attempts=[attempt for _, attempt in leases],
            expires=expires,
        )

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
        if self.complete_tasks([completion]):
            raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")

    def complete_tasks(self, completions: Sequence[Completion]) -> set[UUID]:
        if not completions:
            return set()
        with self.db.transaction() as tx:
            attempts = list(dict.fromkeys((c.task_id, c.attempt) for c in completions))
            locked = self._lock_jobs(tx, [task_id for task_id, _ in attempts])
            now = time.time()
            ended = self._end_attempts(tx, attempts, TaskState.COMPUTED, now)
            spawning = [c for c in completions if c.subtasks]
            if spawning:  # subtasks join their job's pending count before it is checked
                # States as locked: this transaction changed none of them yet.
                job_states = {str(r["id"]): r["state"] for r in locked.rows()}
                rows = _by_attempt(ended.rows())
                for c in spawning:
                    row = rows.pop((c.task_id, c.attempt), None)
                    if row is not None:
                        self._insert_subtasks(tx, row, c, job_states.get(str(row["job_id"])), now)
            # Without subtasks, one round trip ends the attempts and counts them off.
            jobs = self._count_off(tx, attempts, TaskState.COMPUTED, now).rows()
            rows = _by_attempt(ended.rows())
            finished = [rows[key] for key in attempts if key in rows]
            for c in completions:
                row = rows.pop((c.task_id, c.attempt), None)  # listed twice: the first counts
                if row is not None:
                    self._record_outputs(tx, row, c, now)
            self._after_finish(tx, finished, jobs, TaskState.COMPUTED, now)
            done = {(_rows.uuid_of(r["id"]), r["attempt"]) for r in finished}
            return {task_id for task_id, attempt in attempts if (task_id, attempt) not in done}

    def _insert_subtasks(
        self, tx: Transaction, row: Row, c: Completion, job_state: str | None, now: float
    ) -> None:
        """A successful attempt's subtasks: QUEUED while the job is live, else CANCELED."""
        state = TaskState.QUEUED if job_state in LIVE_JOB_STATES else TaskState.CANCELED
        self._insert_tasks(tx, _rows.uuid_of(row["job_id"]), c.task_id, c.subtasks, state, now)

    def _record_outputs(self, tx: Transaction, row: Row, c: Completion, now: float) -> None:
        """Store the final progress and the results of a successful attempt."""
        if c.progress:
            self._write_progress(tx, row, c.attempt, c.progress, now)
        for result in c.results:
            tx.send(
                "insert_result",
                job_id=str(row["job_id"]),
                name=result.name,
                content_type=result.content_type,
                size=result.size,
                blob_key=result.blob_key,
                task_id=str(c.task_id),
                now=now,
            )

    def _end_attempts(
        self,
        tx: Transaction,
        attempts: Sequence[tuple[UUID, int]],
        state: TaskState,
        now: float,
        error: ErrorInfo | None = None,
    ) -> Sent:
        """Move the attempts that still hold their lease to ``state``. Sent: their rows
        (seq, id, attempt, job_id, optional, has_dependents) come with the next read."""
        return tx.send(
            "finish_attempts",
            ids=[str(task_id) for task_id, _ in attempts],
            attempts=[attempt for _, attempt in attempts],
            state=state.value,
            now=now,
            error=json.dumps(error.to_dict()) if error else None,
        )

    def fail_task(
        self, task_id: UUID, attempt: int, error: ErrorInfo, retry_at: float | None
    ) -> bool:
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            now = time.time()
            current = tx.one("running_attempt", id=str(task_id), attempt=attempt)
            if current is None:
                raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")
            tx.send("delete_task_progress", seqs=[current["seq"]])
            if retry_at is not None and current["failures"] < current["max_retries"]:
                tx.send(
                    "requeue_attempt",
                    id=str(task_id),
                    attempt=attempt,
                    run_after=retry_at,
                    error=json.dumps(error.to_dict()),
                )
                return True
            state = TaskState.FAILED_OPTIONAL if current["optional"] else TaskState.FAILED
            ended = self._end_attempts(tx, [(task_id, attempt)], state, now, error)
            jobs = self._count_off(tx, [(task_id, attempt)], state, now).rows()
            rows = ended.rows()
            assert rows, "the job lock keeps the attempt running"
            self._after_finish(tx, rows, jobs, state, now, error)
            return False

    def ack_cancel(self, task_id: UUID, attempt: int) -> None:
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            now = time.time()
            ended = self._end_attempts(tx, [(task_id, attempt)], TaskState.CANCELED, now)
            jobs = self._count_off(tx, [(task_id, attempt)], TaskState.CANCELED, now).rows()
            rows = ended.rows()
            if not rows:
                raise LeaseLostError(f"task {task_id} attempt {attempt} no longer holds its lease")
            tx.send("delete_task_progress", seqs=[rows[0]["seq"]])
            self._after_finish(tx, rows, jobs, TaskState.CANCELED, now)

    def release_task(self, task_id: UUID, attempt: int) -> None:
        with self.db.transaction() as tx:
            row = tx.one("release_attempt", id=str(task_id), attempt=attempt)
            if row is not None:
                tx.send("delete_task_progress", seqs=[row["seq"]])


def _by_attempt(rows: Sequence[Row]) -> dict[tuple[UUID, int], Row]:
    return {(_rows.uuid_of(r["id"]), r["attempt"]): r for r in rows}
