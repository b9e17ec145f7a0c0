"""Conversions between stored rows and model objects, shared by the store mixins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from conveyor.models import ErrorInfo, Event, Job, JobState, ProgressIndicator, ResultInfo
from conveyor.store._connector import Row
from conveyor.store.records import ClaimedTask

__all__ = [
    "claimed_task",
    "epoch",
    "error_info",
    "event",
    "job",
    "label_key",
    "result",
    "ts",
    "uuid_of",
]


def ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def uuid_of(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def error_info(text: str | None) -> ErrorInfo | None:
    return ErrorInfo.from_dict(json.loads(text)) if text else None


def label_key(label: str | None) -> str:
    """The stored form of a progress label: '' is the unnamed indicator."""
    return "" if label is None else label


def claimed_task(r: Row) -> ClaimedTask:
    return ClaimedTask(
        id=uuid_of(r["id"]),
        job_id=uuid_of(r["job_id"]),
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


def result(r: Row) -> ResultInfo:
    return ResultInfo(
        r["name"],
        r["content_type"],
        int(r["size"]),
        r["blob_key"],
        uuid_of(r["task_id"]) if r["task_id"] else None,
    )


def job(row: Row, progress: Sequence[ProgressIndicator], results: Sequence[ResultInfo]) -> Job:
    return Job(
        id=uuid_of(row["id"]),
        name=row["name"],
        state=JobState(row["state"]),
        submitted_at=ts(row["submitted_at"]),  # type: ignore[arg-type]
        started_at=ts(row["started_at"]),
        finished_at=ts(row["finished_at"]),
        error=error_info(row["error"]),
        progress=list(progress),
        tenant=row["tenant"],
        callback_url=row["callback_url"],
        webhook_events=(
            json.loads(row["webhook_events"]) if row["webhook_events"] is not None else None
        ),
        results=list(results),
    )


def event(row: Row) -> Event:
    return Event(
        id=int(row["id"]),
        job_id=uuid_of(row["job_id"]),
        type=row["type"],
        data=json.loads(row["data"]),
        created_at=ts(row["created_at"]),  # type: ignore[arg-type]
    )
