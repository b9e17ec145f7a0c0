"""Webhook delivery log of a job, and redelivery: thin routes over the store's outbox ops.

``GET /jobs/{job_id}/deliveries`` lists every attempt (oldest first);
``POST /jobs/{job_id}/deliveries/{delivery_id}/redeliver`` makes that attempt's
message due again with the same ``webhook-id`` and a fresh retry budget. Both
are scoped to the caller's tenant: another tenant's job is a 404, like a
missing one. Store errors (JobNotFoundError, InvalidStateError) are mapped to
404/409 by the app's error handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from conveyor.store import Store
from conveyor.store._outbox import OutboxMessage, WebhookDelivery


def _default_tenant() -> str:
    """Fallback while ``conveyor.api.auth`` does not exist: everything is tenant "default"."""
    return "default"


def _tenant_dependency() -> Callable[..., Any]:
    try:
        from conveyor.api.auth import current_tenant as api_tenant
    except ModuleNotFoundError as exc:  # only a missing module: a broken one must not drop auth
        if exc.name not in ("conveyor.api.auth", "conveyor.api"):
            raise
        return _default_tenant
    return api_tenant


#: The caller's tenant: the API's auth dependency (override it in tests).
current_tenant = _tenant_dependency()

__all__ = ["DeliveryOut", "RedeliveryOut", "router"]

router = APIRouter(tags=["webhooks"])


class DeliveryOut(BaseModel):
    """One attempt to deliver one webhook message."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "message_id": "msg_5f0c6d0a9e8b4f8f9d3c2b1a0e9d8c7b",
                    "event_type": "job.completed",
                    "attempt": 2,
                    "url": "https://example.com/hooks/conveyor",
                    "status": "DELIVERED",
                    "status_code": 200,
                    "error": None,
                    "duration_ms": 84.2,
                    "created_at": "2025-01-01T12:00:05Z",
                }
            ]
        }
    )

    id: int = Field(description="delivery id, for redelivery")
    message_id: str = Field(description="the webhook-id header: stable across retries")
    event_type: str = Field(description="job.started, job.completed, job.failed, job.canceled")
    attempt: int = Field(description="attempt number of the message (1 = first try)")
    url: str
    status: Literal["DELIVERED", "RETRYING", "FAILED"] = Field(
        description="DELIVERED (2xx), RETRYING (another attempt is scheduled) or FAILED (final)"
    )
    status_code: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None = Field(description="why the attempt failed")
    duration_ms: float | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            message_id=delivery.message_id,
            event_type=delivery.event_type,
            attempt=delivery.attempt,
            url=delivery.url,
            status=delivery.status.value,
            status_code=delivery.status_code,
            error=delivery.error,
            duration_ms=delivery.duration_ms,
            created_at=delivery.created_at,
        )


class RedeliveryOut(BaseModel):
    """The message queued again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "msg_5f0c6d0a9e8b4f8f9d3c2b1a0e9d8c7b",
                    "job_id": "3f2b8c1e-2f4a-4b6e-9a1d-7c5e4b3a2f10",
                    "event_type": "job.completed",
                    "status": "PENDING",
                    "next_attempt_at": "2025-01-01T12:10:00Z",
                }
            ]
        }
    )

    message_id: str = Field(description="the webhook-id, unchanged")
    job_id: UUID
    event_type: str
    status: str = Field(description="PENDING until the next attempt's outcome")
    next_attempt_at: datetime

    @classmethod
    def of(cls, message: OutboxMessage) -> RedeliveryOut:
        return cls(
            message_id=message.id,
            job_id=message.job_id,
            event_type=message.event_type,
            status=message.status.value,
            next_attempt_at=message.next_attempt_at,
        )


def _store(request: Request) -> Store:
    """The app's store: ``app.state.conveyor.store`` (the API's context) or ``app.state.store``."""
    state: Any = request.app.state
    context = getattr(state, "conveyor", None)
    store: Store = context.store if context is not None else state.store
    return store


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job or delivery"}}


@router.get(
    "/jobs/{job_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="Webhook delivery log of a job",
    responses=_NOT_FOUND,
)
def list_deliveries(
    job_id: UUID,
    limit: int = Query(1000, ge=1, le=10_000, description="at most this many, oldest first"),
    store: Store = Depends(_store),
    tenant: str = Depends(current_tenant),
) -> list[DeliveryOut]:
    """Every attempt to deliver this job's webhooks, oldest first."""
    return [DeliveryOut.of(d) for d in store.list_webhook_deliveries(job_id, tenant, limit=limit)]


@router.post(
    "/jobs/{job_id}/deliveries/{delivery_id}/redeliver",
    response_model=RedeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery's message again",
    responses={
        **_NOT_FOUND,
        409: {"description": "an attempt of this message is in flight right now"},
    },
)
def redeliver(
    job_id: UUID,
    delivery_id: int = Path(ge=1, le=2**63 - 1),
    store: Store = Depends(_store),
    tenant: str = Depends(current_tenant),
) -> RedeliveryOut:
    """Queue the delivery's message again, with the same ``webhook-id`` (receivers that
    already processed it may drop it as a duplicate) and a fresh retry budget."""
    return RedeliveryOut.of(store.redeliver_webhook(job_id, delivery_id, tenant))
