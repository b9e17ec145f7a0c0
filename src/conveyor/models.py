"""The shared vocabulary: states and the read-only records the store returns.

These live below both the store and the SDK so that every layer (embedded
client, HTTP API, remote client) speaks about jobs with the same types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = [
    "TERMINAL_JOB_STATES",
    "ErrorInfo",
    "Event",
    "Job",
    "JobState",
    "ProgressIndicator",
    "ResultInfo",
    "TaskInfo",
    "TaskState",
]


class JobState(enum.StrEnum):
    """Lifecycle of a job: QUEUED → STARTED → COMPLETED | FAILED | CANCELED."""

    QUEUED = "QUEUED"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


TERMINAL_JOB_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELED})


class TaskState(enum.StrEnum):
    """Lifecycle of one task inside a job."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPUTED = "COMPUTED"
    FAILED = "FAILED"
    FAILED_OPTIONAL = "FAILED_OPTIONAL"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class ProgressIndicator:
    """A named done/total counter; the job's value is the sum over its tasks' last attempts."""

    label: str | None
    total: int
    done: int


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a task (and so its job) failed."""

    type: str
    message: str
    traceback: str = ""
    task_id: UUID | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "task_id": str(self.task_id) if self.task_id else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        task_id = data.get("task_id")
        return cls(
            type=data.get("type", "Error"),
            message=data.get("message", ""),
            traceback=data.get("traceback", ""),
            task_id=UUID(task_id) if task_id else None,
        )


@dataclass(frozen=True, slots=True)
class ResultInfo:
    """A result blob a task saved: the job's output, served by the API."""

    name: str
    content_type: str
    size: int
    blob_key: str
    task_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of a job; call ``jobs.find(job.id)`` for a fresh one."""

    id: UUID
    name: str
    state: JobState
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    progress: list[ProgressIndicator] = field(default_factory=list)
    tenant: str = "default"
    callback_url: str | None = None
    webhook_events: list[str] | None = None
    results: list[ResultInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A snapshot of one task of a job, for inspection (CLI, API)."""

    id: UUID
    job_id: UUID
    parent_id: UUID | None
    identifier: str
    version: str
    state: TaskState
    attempt: int
    failures: int
    lease_losses: int
    max_retries: int
    optional: bool
    depends_on: list[UUID]
    input: Any
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a job's durable event log; ``id`` increases monotonically."""

    id: int
    job_id: UUID
    type: str
    data: dict[str, Any]
    created_at: datetime
