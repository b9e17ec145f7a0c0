"""Webhook outbox operations: lease due messages, log each attempt, reschedule, redeliver.

The outbox row itself is written by ``SqlStore._transition`` in the same
transaction as the state change it reports; this mixin is the dispatcher's side.

* Claiming bumps ``attempts`` and sets ``locked_until``, in one statement under
  the write lock, so several dispatchers (several API servers, ``conveyor
  notifier``) never hold the same message at once. ``attempts`` is the fencing
  token: a dispatcher whose lease ran out and was taken over cannot overwrite the
  newer attempt's outcome.
* A message is not claimed while an older message of the same job is still
  PENDING, so a receiver sees a job's events in the order they happened.
* Recording an attempt appends to the delivery log and moves the message on
  (delivered, failed, or due again later) in one transaction.
* Redelivery resets the same outbox row: same ``webhook-id`` (a redelivery is the
  same event; receivers that already processed it may dedupe it), due now, with
  a fresh retry budget (``attempts_base``); ``attempts`` keeps counting.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from conveyor.exceptions import InvalidStateError, JobNotFoundError
from conveyor.notify.signing import generate_secret
from conveyor.store._connector import Connector, Row, Transaction

__all__ = [
    "AttemptOutcome",
    "DeliveryNotFoundError",
    "DeliveryStatus",
    "OutboxMessage",
    "OutboxMixin",
    "WebhookDelivery",
]


class DeliveryStatus(enum.StrEnum):
    """Status of an outbox message (PENDING, DELIVERED, FAILED) or of one logged attempt
    (DELIVERED, RETRYING: another attempt is scheduled, FAILED: this was the last)."""

    PENDING = "PENDING"
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class DeliveryNotFoundError(JobNotFoundError):
    """The job has no delivery with this id (a 404, like a missing job)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One webhook message: an event of a job, to be POSTed to its callback URL."""

    id: str  # the stable webhook-id
    job_id: UUID
    tenant: str
    url: str
    event_type: str
    payload: str  # JSON, as written with the state change
    status: DeliveryStatus
    attempts: int  # attempts claimed so far; the latest claim's fencing token
    attempts_base: int  # attempts before the current retry series (see redeliver)
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None

    @property
    def series_attempt(self) -> int:
        """This attempt's number within the current retry series (1 = first try)."""
        return self.attempts - self.attempts_base


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What the dispatcher decided about one attempt."""

    status: DeliveryStatus  # DELIVERED, RETRYING or FAILED
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    retry_at: float | None = None  # epoch seconds; required with RETRYING


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One row of a job's delivery log: one attempt to deliver one message."""

    id: int
    message_id: str
    job_id: UUID
    event_type: str
    attempt: int
    url: str
    status: DeliveryStatus
    status_code: int | None
    error: str | None
    duration_ms: float | None
    created_at: datetime


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _message(row: Row) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        job_id=UUID(str(row["job_id"])),
        tenant=row["tenant"],
        url=row["url"],
        event_type=row["event_type"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=int(row["attempts"]),
        attempts_base=int(row["attempts_base"]),
        next_attempt_at=_dt(row["next_attempt_at"]),
        created_at=_dt(row["created_at"]),
        last_error=row["last_error"],
        delivered_at=_dt(row["delivered_at"]) if row["delivered_at"] is not None else None,
    )


def _delivery(row: Row) -> WebhookDelivery:
    return WebhookDelivery(
        id=int(row["id"]),
        message_id=row["message_id"],
        job_id=UUID(str(row["job_id"])),
        event_type=row["event_type"],
        attempt=int(row["attempt"]),
        url=row["url"],
        status=DeliveryStatus(row["status"]),
        status_code=row["status_code"],
        error=row["error"],
        duration_ms=row["duration_ms"],
        created_at=_dt(row["created_at"]),
    )


class OutboxMixin:
    """The webhook operations of the Store protocol, over the same Connector as SqlStore."""

    db: Connector

    def claim_webhooks(
        self, worker_id: str, *, limit: int = 16, lease_seconds: float = 60.0
    ) -> list[OutboxMessage]:
        with self.db.transaction() as tx:
            now = time.time()
            rows = tx.all(
                "webhook_claim",
                worker_id=worker_id,
                now=now,
                locked_until=now + lease_seconds,
                limit=max(1, int(limit)),
            )
        return sorted((_message(r) for r in rows), key=lambda m: (m.created_at, m.id))

    def record_webhook_attempt(self, message: OutboxMessage, outcome: AttemptOutcome) -> bool:
        if outcome.status is DeliveryStatus.PENDING:
            raise ValueError("an attempt is DELIVERED, RETRYING or FAILED, not PENDING")
        if outcome.status is DeliveryStatus.RETRYING and outcome.retry_at is None:
            raise ValueError("a RETRYING outcome needs retry_at")
        with self.db.transaction() as tx:
            now = time.time()
            tx.run(
                "webhook_insert_delivery",
                message_id=message.id,
                job_id=str(message.job_id),
                event_type=message.event_type,
                attempt=message.attempts,
                url=message.url,
                status=outcome.status.value,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                now=now,
            )
            retrying = outcome.status is DeliveryStatus.RETRYING
            delivered = outcome.status is DeliveryStatus.DELIVERED
            row = tx.one(
                "webhook_finish_attempt",
                id=message.id,
                attempt=message.attempts,
                status=DeliveryStatus.PENDING.value if retrying else outcome.status.value,
                next_attempt_at=outcome.retry_at if retrying else None,
                error=outcome.error,
                delivered_at=now if delivered else None,
            )
            return row is not None

    def list_webhook_deliveries(
        self, job_id: UUID, tenant: str | None = None, *, limit: int = 1000
    ) -> list[WebhookDelivery]:
        with self.db.transaction(write=False) as tx:
            _check_job(tx, job_id, tenant)
            rows = tx.all("webhook_list_deliveries", job_id=str(job_id), limit=max(1, limit))
            return [_delivery(r) for r in rows]

    def list_webhook_messages(self, job_id: UUID, tenant: str | None = None) -> list[OutboxMessage]:
        with self.db.transaction(write=False) as tx:
            _check_job(tx, job_id, tenant)
            return [_message(r) for r in tx.all("webhook_list_messages", job_id=str(job_id))]

    def redeliver_webhook(
        self, job_id: UUID, delivery_id: int, tenant: str | None = None
    ) -> OutboxMessage:
        with self.db.transaction() as tx:
            _check_job(tx, job_id, tenant)
            delivery = tx.one("webhook_get_delivery", id=delivery_id, job_id=str(job_id))
            if delivery is None:
                raise DeliveryNotFoundError(f"job {job_id} has no delivery {delivery_id}")
            row = tx.one("webhook_redeliver", id=delivery["message_id"], now=time.time())
            if row is None:
                if tx.one("webhook_get_message", id=delivery["message_id"]) is None:
                    raise DeliveryNotFoundError(
                        f"message {delivery['message_id']} of job {job_id} no longer exists"
                    )
                raise InvalidStateError(
                    f"message {delivery['message_id']} is being delivered right now; "
                    "try again when the attempt has finished"
                )
            return _message(row)

    def _webhook_secret(self, tenant: str) -> str:
        """The tenant's ``whsec_`` signing secret, created on first use.

        A fallback for stores without ``get_tenant_secret`` (the API's tenant
        operations); both read the same ``tenants.webhook_secret`` column.
        """
        with self.db.transaction(write=False) as tx:
            row = tx.one("webhook_tenant_secret", tenant=tenant)
        if row is not None:
            return str(row["webhook_secret"])
        with self.db.transaction() as tx:
            secret = generate_secret()
            tx.run("webhook_ensure_tenant", tenant=tenant, secret=secret, now=time.time())
            row = tx.one("webhook_tenant_secret", tenant=tenant)
            assert row is not None
            return str(row["webhook_secret"])


def _check_job(tx: Transaction, job_id: UUID, tenant: str | None) -> Any:
    row = tx.one("get_job", id=str(job_id))
    if row is None or (tenant is not None and row["tenant"] != tenant):
        raise JobNotFoundError(f"job {job_id} not found")
    return row
