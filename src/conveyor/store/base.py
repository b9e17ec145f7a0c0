"""The Store protocol: every domain operation the rest of Conveyor needs from a database.

One protocol, two engines (SQLite embedded, PostgreSQL for many machines), one
contract test suite (``tests/contract``). Each method is one transaction, so a
state change, its event and its webhook outbox row always commit together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from conveyor.models import ErrorInfo, Event, Job, JobState, ProgressIndicator, TaskInfo
from conveyor.store._api import ApiKey, TimingStats
from conveyor.store._outbox import (
    AttemptOutcome,
    OutboxMessage,
    WebhookDelivery,
)
from conveyor.store.records import (
    CacheEntry,
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewJob,
    NewResult,
    NewTask,
    ProgressFlush,
    ProgressValue,
)

__all__ = ["Store"]


class Store(Protocol):
    """Durable state of jobs, tasks, leases, progress, events and the webhook outbox."""

    url: str

    # -- jobs ---------------------------------------------------------------------------
    def create_job(self, job: NewJob) -> Job:
        """Insert a job and its root task (QUEUED). With an idempotency key already used by
        the tenant, return that job when ``request_hash`` matches, else raise ConflictError."""
        ...

    def get_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        """The job with its progress and results; JobNotFoundError if absent (or other tenant)."""
        ...

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
        """Jobs newest first; ``before`` is a (submitted_at, id) cursor for the next page."""
        ...

    def job_progress(self, job_id: UUID) -> list[ProgressIndicator]:
        """Sum over tasks of their last attempt's progress, labels in first-seen order."""
        ...

    def list_tasks(self, job_id: UUID) -> list[TaskInfo]:
        """All tasks of a job in submission order."""
        ...

    def cancel_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        """Cancel a job: queued tasks never start, running ones see the flag."""
        ...

    def retry_job(self, job_id: UUID, tenant: str | None = None) -> Job:
        """Queue a FAILED or CANCELED job's failed and cancelled tasks again."""
        ...

    def queue_position(self, job_id: UUID) -> int | None:
        """How many runnable tasks are ahead of this job's first queued task (None if none)."""
        ...

    def has_pending_work(self, kinds: Sequence[str]) -> bool:
        """Whether tasks of these kinds may still become runnable (queued, in backoff, or
        waiting on a running task), so ``run_all`` should keep going."""
        ...

    def count_jobs_by_state(self) -> dict[JobState, int]:
        """Job counts per state (metrics, dashboards)."""
        ...

    # -- runner side ----------------------------------------------------------------------
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
        """Atomically lease up to ``limit`` runnable tasks of the given kinds, oldest first.

        Of ``long_kinds`` (a subset of ``kinds``) it leases one task at most, and no task
        queued after that one: a runner prefetches short tasks to save round trips, but a
        long task it held while running another would wait there while an idle runner could
        start it (a burst of image tasks went all to one GPU worker).

        Reclaims tasks whose lease expired (without consuming a retry); a task that has
        lost its lease more than ``max_lease_losses`` times is failed instead.
        """
        ...

    def claim_batch(
        self,
        worker_id: str,
        kind: str,
        batch_key: str,
        *,
        limit: int,
        lease_seconds: float = 30.0,
    ) -> list[ClaimedTask]:
        """Lease up to ``limit`` more runnable tasks of ``kind`` with this ``batch_key``."""
        ...

    def heartbeat(self, leases: Sequence[tuple[UUID, int]], lease_seconds: float) -> LeaseStatus:
        """Extend the leases of (task id, attempt); report lost leases and cancelled jobs."""
        ...

    def flush_progress(
        self,
        task_id: UUID,
        attempt: int,
        values: Sequence[ProgressValue],
        lease_seconds: float,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> LeaseStatus:
        """Store an attempt's live progress and published events (fenced); extend its lease."""
        ...

    def flush_progress_many(
        self, flushes: Sequence[ProgressFlush], lease_seconds: float
    ) -> LeaseStatus:
        """``flush_progress`` for several running attempts (a batch) in one transaction, with
        one progress event per job; attempts that lost their lease are reported, not written."""
        ...

    def complete_task(
        self,
        task_id: UUID,
        attempt: int,
        *,
        progress: Sequence[ProgressValue] = (),
        subtasks: Sequence[NewTask] = (),
        results: Sequence[NewResult] = (),
    ) -> None:
        """Commit a successful attempt with its subtasks, final progress and results.

        Raises LeaseLostError if this attempt no longer owns the task.
        """
        ...

    def complete_tasks(self, completions: Sequence[Completion]) -> set[UUID]:
        """Commit several successful attempts in one transaction (short tasks run in a batch),
        each with its results and job cache writes (``Completion.cache``).

        Returns the ids of tasks whose attempt was fenced off (lease lost); the others commit.
        """
        ...

    def get_cache_entry(self, job_id: UUID, key: str) -> CacheEntry | None:
        """The job cache entry ``key`` of a job as the last successful attempt that wrote
        it committed it (with its completion), or None."""
        ...

    def get_cache_entries(self, job_id: UUID, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries of ``keys`` that a job's cache holds, by key, in one read (a task
        gathering many entries pays one round trip, not one per key)."""
        ...

    def list_cache_keys(self, job_id: UUID, prefix: str = "") -> list[str]:
        """The keys of a job's cache entries that start with ``prefix``, sorted."""
        ...

    def fail_task(
        self, task_id: UUID, attempt: int, error: ErrorInfo, retry_at: float | None
    ) -> bool:
        """Record a failed attempt: requeue it at ``retry_at`` if retries are left.

        Returns True if the task was requeued. Raises LeaseLostError if fenced.
        """
        ...

    def ack_cancel(self, task_id: UUID, attempt: int) -> None:
        """A running task stopped because its job was cancelled."""
        ...

    def release_task(self, task_id: UUID, attempt: int) -> None:
        """Hand a claimed task back (runner shutting down); costs no retry."""
        ...

    # -- events -----------------------------------------------------------------------------
    def events_after(self, job_id: UUID, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """A job's events with id > after_id, oldest first."""
        ...

    def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        """All jobs' events with id > after_id (for fan-out to subscribers)."""
        ...

    def last_event_id(self) -> int:
        """The newest event id (0 when there is none)."""
        ...

    # -- HTTP API: tenants, API keys, timings (store/_api.py) -------------------------------
    def ensure_tenant(self, tenant: str) -> str:
        """Create the tenant (with its webhook secret) if missing; return its webhook secret."""
        ...

    def get_tenant_secret(self, tenant: str) -> str:
        """The tenant's ``whsec_`` webhook signing secret, creating the tenant on first use."""
        ...

    def create_api_key(self, tenant: str) -> tuple[ApiKey, str]:
        """Create a key for ``tenant`` (created if missing); return it and the one-time token."""
        ...

    def authenticate_api_key(self, token: str) -> str | None:
        """The tenant of an active key, or None for an unknown or revoked one."""
        ...

    def list_api_keys(
        self, tenant: str | None = None, *, include_revoked: bool = False
    ) -> list[ApiKey]:
        """Keys oldest first, optionally of one tenant."""
        ...

    def revoke_api_key(self, key: str) -> ApiKey:
        """Revoke a key by id or value; ApiKeyNotFoundError if no active key matches."""
        ...

    def count_api_keys(self) -> int:
        """How many keys are active."""
        ...

    def job_cursor(self, job_id: UUID) -> tuple[float, UUID]:
        """The exact (submitted_at, id) key of a job for ``query_jobs(before=...)``."""
        ...

    def timing_stats(self, name: str) -> TimingStats:
        """Recent task and job durations and busy workers, for ETA estimates."""
        ...

    def recent_task_durations(self, limit: int = 1000) -> list[tuple[str, float]]:
        """(identifier, seconds) of recently completed tasks, for metrics."""
        ...

    # -- webhooks: outbox and delivery log (store/_outbox.py) ------------------------------
    def claim_webhooks(
        self, worker_id: str, *, limit: int = 16, lease_seconds: float = 60.0
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` due PENDING messages (oldest first), bumping their attempt
        counter. A message waits while an older message of its job is PENDING (ordering);
        a leased message is invisible to other dispatchers until ``lease_seconds`` pass."""
        ...

    def record_webhook_attempt(self, message: OutboxMessage, outcome: AttemptOutcome) -> bool:
        """Log one attempt and move its message on (delivered, failed, or due at
        ``outcome.retry_at``) in one transaction. False if the lease was lost meanwhile
        (the log row is still written; the message is left to the newer attempt)."""
        ...

    def list_webhook_deliveries(
        self, job_id: UUID, tenant: str | None = None, *, limit: int = 1000
    ) -> list[WebhookDelivery]:
        """A job's delivery log, oldest first; JobNotFoundError if absent (or other tenant)."""
        ...

    def list_webhook_messages(self, job_id: UUID, tenant: str | None = None) -> list[OutboxMessage]:
        """A job's outbox messages with their status, oldest first."""
        ...

    def redeliver_webhook(
        self, job_id: UUID, delivery_id: int, tenant: str | None = None
    ) -> OutboxMessage:
        """Make the message of a logged delivery due now, same webhook-id, fresh retry budget.

        DeliveryNotFoundError (a JobNotFoundError) for an unknown delivery,
        InvalidStateError while an attempt of that message is in flight.
        """
        ...

    # -- wake-up hints and retention (store/_wakeup.py, store/_retention.py) --------------
    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until a task may have become runnable (a hint: PostgreSQL LISTEN/NOTIFY),
        ``stop`` is set, or ``timeout`` passed; True when woken by a hint. Callers poll
        anyway, so an engine without hints (SQLite) just waits."""
        ...

    def listen_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` from a background thread whenever events were appended (one
        listening connection per store); returns the unsubscribe function. A hint only:
        subscribers still read ``events_since``. SQLite: never called back."""
        ...

    def cleanup(
        self,
        *,
        event_retention_seconds: float | None = None,
        job_retention_seconds: float | None = None,
        now: float | None = None,
        batch_size: int = 1000,
        on_jobs_deleted: Callable[[list[UUID]], None] | None = None,
    ) -> dict[str, int]:
        """Delete old events and long-finished jobs (with all their rows) in small
        transactions; retentions default to the settings, 0 keeps forever. Returns
        ``{"jobs": n, "events": n}``."""
        ...

    def ping(self, timeout: float = 2.0) -> None:
        """One read of the database without the retries other operations make: raises
        StoreError when it does not answer within about ``timeout`` seconds. For health
        checks, which must answer while the database is down, not retry for half a minute."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
