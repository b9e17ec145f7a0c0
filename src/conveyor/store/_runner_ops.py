"""The runner side of the store: claims, leases, progress flushes and attempt outcomes.

These are the hot paths of the queue, so each works on sets: a claim is one
statement however many tasks it takes (runnable ones and expired leases
together), and on PostgreSQL one round trip with the jobs it starts and their
events (no statement waits for another's rows), a heartbeat renews every
lease in one statement, and a commit of N successful attempts ends them,
promotes their dependents and counts them off their jobs in one statement
each. Every write of an attempt is fenced by its attempt number: a zombie
worker that lost its lease changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from conveyor.exceptions import LeaseLostError
from conveyor.models import ErrorInfo, JobState, TaskState
from conveyor.store import _rows
from conveyor.store._cache import write_cache_entries
from conveyor.store._connector import Row, Sent, Transaction
from conveyor.store._domain import LIVE_JOB_STATES, DomainMixin, TaskGroup
from conveyor.store.records import (
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewResult,
    NewTask,
    ProgressFlush,
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
        long_kinds: Collection[str] = (),
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
                long_kinds=[k for k in kinds if k in long_kinds],
                limit=limit,
                max_lease_losses=max_lease_losses,
            )
            self._start_claimed(tx, worker_id, expires, now)
            # A reclaimed task's lost attempt may have flushed progress: it is discarded.
            tx.send("delete_reclaimed_progress", worker_id=worker_id, expires=expires)
        # Read after the commit: on PostgreSQL the claim is one round trip.
        rows = sorted(sent.rows(), key=lambda r: r["seq"])
        for row in rows:
            if row["exhausted"]:  # locked, not leased: fail it (if nobody did meanwhile)
                self._fail_lease_losses(row, max_lease_losses)
        return [_rows.claimed_task(r) for r in rows if not r["exhausted"]]

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
            self._start_claimed(tx, worker_id, expires, now)
        return [_rows.claimed_task(r) for r in sent.rows()]

    def _start_claimed(self, tx: Transaction, worker_id: str, expires: float, now: float) -> None:
        """QUEUED jobs of the tasks just claimed (leased to ``worker_id`` until ``expires``)
        become STARTED, conditionally, so racing claimers start a job once; with their state
        event and webhook outbox row, as ``_announce`` writes them for every other change.

        Three statements that find the jobs they concern themselves (see
        ``start_claimed_jobs``), so none waits for another's rows.
        """
        lease = {"worker_id": worker_id, "expires": expires, "now": now}
        tx.send("start_claimed_jobs", **lease)
        tx.send("announce_started_jobs", data=json.dumps({"state": "STARTED"}), **lease)
        tx.send(
            "outbox_started_jobs", timestamp=datetime.fromtimestamp(now, UTC).isoformat(), **lease
        )

    def _fail_lease_losses(self, row: Row, max_lease_losses: int) -> None:
        """Fail a task that lost its lease once too often, instead of reclaiming it again.

        Its own transaction, after the claim that found it: the update is conditional (still
        that attempt, still expired), so a racing claimer or a late heartbeat wins cleanly.
        """
        task_id = _rows.uuid_of(row["id"])
        error = ErrorInfo(
            "LeaseLostError",
            f"task lost its lease {row['lease_losses'] + 1} times (its worker crashed, "
            "was killed or stalled past the lease); giving up",
            task_id=task_id,
        )
        with self.db.transaction() as tx:
            self._lock_jobs(tx, [task_id])
            now = time.time()
            failed = tx.send(
                "fail_lease_losses",
                seq=row["seq"],
                attempt=row["attempt"],
                max_lease_losses=max_lease_losses,
                now=now,
                state=TaskState.FAILED.value,
                error=json.dumps(error.to_dict()),
            )
            jobs = self._count_off(tx, [(task_id, row["attempt"])], TaskState.FAILED, now)
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
        flush = ProgressFlush(task_id, attempt, tuple(values), tuple(events))
        return self.flush_progress_many([flush], lease_seconds)

    def flush_progress_many(
        self, flushes: Sequence[ProgressFlush], lease_seconds: float
    ) -> LeaseStatus:
        if not flushes:
            return LeaseStatus()
        with self.db.transaction() as tx:
            now = time.time()
            leases = list(dict.fromkeys((f.task_id, f.attempt) for f in flushes))
            held = _by_attempt(self._renew(tx, leases, now + lease_seconds))
            flushed = [
                (held[f.task_id, f.attempt], f) for f in flushes if (f.task_id, f.attempt) in held
            ]
            self._write_progress(tx, [(row, f.attempt, f.progress) for row, f in flushed], now)
            for row, f in flushed:
                job_id = _rows.uuid_of(row["job_id"])
                for type_, data in f.events:
                    self._event(tx, job_id, type_, {**data, "task_id": str(f.task_id)}, now)
            lost = {task_id for task_id, attempt in leases if (task_id, attempt) not in held}
            cancelled = {
                f.task_id for row, f in flushed if row["job_state"] == JobState.CANCELED.value
            }
            return LeaseStatus(lost=frozenset(lost), cancelled=frozenset(cancelled))

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
                groups = []
                for c in spawning:
                    row = rows.pop((c.task_id, c.attempt), None)
                    if row is not None:
                        groups.append(_subtasks(row, c, job_states.get(str(row["job_id"]))))
                self._insert_task_groups(tx, groups, now)
            # Without subtasks, one round trip ends the attempts and counts them off.
            jobs = self._count_off(tx, attempts, TaskState.COMPUTED, now).rows()
            rows = _by_attempt(ended.rows())
            finished = [rows[key] for key in attempts if key in rows]
            lost = {task_id for task_id, attempt in attempts if (task_id, attempt) not in rows}
            recorded: list[tuple[Row, Completion]] = []
            for c in completions:
                row = rows.pop((c.task_id, c.attempt), None)  # listed twice: the first counts
                if row is not None:
                    recorded.append((row, c))
            self._write_progress(tx, [(row, c.attempt, c.progress) for row, c in recorded], now)
            self._insert_results(tx, recorded, now)
            write_cache_entries(tx, [(str(row["job_id"]), c) for row, c in recorded], now)
            self._after_finish(tx, finished, jobs, TaskState.COMPUTED, now)
            return lost

    def _insert_results(
        self, tx: Transaction, recorded: Sequence[tuple[Row, Completion]], now: float
    ) -> None:
        """Store the results of successful attempts, in one statement."""
        rows = [
            {
                "job_id": str(row["job_id"]),
                "name": result.name,
                "content_type": result.content_type,
                "size": result.size,
                "blob_key": result.blob_key,
                "task_id": str(c.task_id),
                "now": now,
            }
            for row, c in recorded
            for result in c.results
        ]
        if rows:
            tx.send_many("insert_result", rows)

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


def _subtasks(row: Row, c: Completion, job_state: str | None) -> TaskGroup:
    """A successful attempt's subtasks: QUEUED while the job is live, else CANCELED."""
    state = TaskState.QUEUED if job_state in LIVE_JOB_STATES else TaskState.CANCELED
    return TaskGroup(_rows.uuid_of(row["job_id"]), c.task_id, c.subtasks, state)


def _by_attempt(rows: Sequence[Row]) -> dict[tuple[UUID, int], Row]:
    return {(_rows.uuid_of(r["id"]), r["attempt"]): r for r in rows}
