"""The API's wire format: request and response models (they also make the OpenAPI document).

``status`` is the public name clients poll for (PENDING, PROCESSING, COMPLETED,
FAILED, CANCELED); ``state`` is the engine's own (QUEUED, STARTED, ...), kept for
clients that also use the embedded SDK.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from conveyor.models import JobState, TaskState

__all__ = [
    "PUBLIC_STATUS",
    "ErrorItem",
    "ErrorOut",
    "ErrorResponse",
    "EventOut",
    "Health",
    "JobAccepted",
    "JobDetail",
    "JobOut",
    "JobPage",
    "JobRequest",
    "JobResult",
    "JobStatus",
    "ProgressOut",
    "PublicStatus",
    "ResultFile",
    "TaskDescription",
    "TaskErrorOut",
    "TaskOut",
    "TaskSpec",
    "WebhookEvent",
]

PublicStatus = Literal["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELED"]
PUBLIC_STATUS: dict[JobState, PublicStatus] = {
    JobState.QUEUED: "PENDING",
    JobState.STARTED: "PROCESSING",
    JobState.COMPLETED: "COMPLETED",
    JobState.FAILED: "FAILED",
    JobState.CANCELED: "CANCELED",
}
WebhookEvent = Literal["job.queued", "job.started", "job.completed", "job.failed", "job.canceled"]

_JOB_ID = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
_BASE = "http://127.0.0.1:8000"
_PROGRESS: list[Any] = [
    {"label": "count", "total": 40, "done": 12},
    {"label": "verify", "total": 4, "done": 1},
]


class TaskSpec(BaseModel):
    """The root task of a job: a registered task identifier and its input fields."""

    model_config = ConfigDict(extra="forbid")

    identifier: str = Field(min_length=1, max_length=200, examples=["Countdown"])
    input: dict[str, Any] = Field(
        default_factory=dict, examples=[{"n": 4, "steps": 10, "delay": 0.05}]
    )
    version: str | None = Field(
        None, min_length=1, max_length=100, description="needed only if several are registered"
    )


class JobRequest(BaseModel):
    """Body of ``POST /jobs`` (and of a ``{"type": "submit"}`` WebSocket message)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "countdown",
                    "task": {"identifier": "Countdown", "input": {"n": 4, "steps": 10}},
                    "max_retries": 1,
                    "callback_url": "https://example.com/hooks/conveyor",
                    "webhook_events": ["job.completed", "job.failed"],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    task: TaskSpec
    max_retries: int = Field(0, ge=0, le=100)
    callback_url: str | None = Field(
        None, max_length=2048, description="receives signed webhooks (Standard Webhooks)"
    )
    webhook_events: list[WebhookEvent] | None = Field(
        None, max_length=5, description="default: job.completed, job.failed, job.canceled"
    )


class JobAccepted(BaseModel):
    """Answer of ``POST /jobs``: where to follow the job."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _JOB_ID,
                    "status": "PENDING",
                    "status_url": f"{_BASE}/jobs/{_JOB_ID}/status",
                    "events_url": f"{_BASE}/jobs/{_JOB_ID}/events",
                    "websocket_url": f"ws://127.0.0.1:8000/jobs/{_JOB_ID}/ws",
                }
            ]
        }
    )

    id: UUID
    status: PublicStatus
    status_url: str
    events_url: str
    websocket_url: str


class ProgressOut(BaseModel):
    """One progress indicator: the sum over the job's tasks."""

    label: str | None
    total: int
    done: int


class ResultFile(BaseModel):
    """A result blob, downloadable (with Range) at ``url`` with the same credentials."""

    name: str
    url: str
    content_type: str
    size: int


class JobResult(BaseModel):
    """The job's results; JSON results small enough are also inlined by name."""

    files: list[ResultFile]
    inline: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """Why the job failed (the failing task's exception)."""

    type: str
    message: str
    task_id: UUID | None = None


class JobStatus(BaseModel):
    """``GET /jobs/{id}/status``: what a polling client needs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _JOB_ID,
                    "name": "countdown",
                    "status": "PROCESSING",
                    "state": "STARTED",
                    "progress": _PROGRESS,
                    "queue_position": None,
                    "eta_seconds": 2.5,
                    "result": None,
                    "error": None,
                    "submitted_at": "2025-01-01T12:00:00Z",
                    "started_at": "2025-01-01T12:00:01Z",
                    "finished_at": None,
                }
            ]
        }
    )

    id: UUID
    name: str
    status: PublicStatus
    state: JobState
    progress: list[ProgressOut]
    queue_position: int | None = Field(
        None, description="runnable tasks ahead of this job (while PENDING)"
    )
    eta_seconds: float | None = Field(
        None, description="estimated seconds until the job finishes (see docs/api.md)"
    )
    result: JobResult | None = None
    error: ErrorOut | None = None
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobOut(BaseModel):
    """A job as listed and returned by cancel/retry."""

    id: UUID
    name: str
    tenant: str
    status: PublicStatus
    state: JobState
    progress: list[ProgressOut]
    error: ErrorOut | None = None
    results: list[ResultFile] = Field(default_factory=list)
    callback_url: str | None = None
    webhook_events: list[str] | None = None
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TaskErrorOut(ErrorOut):
    """A task's error, with the traceback its runner recorded."""

    traceback: str = ""


class TaskOut(BaseModel):
    """One task of a job: state, attempts, timestamps."""

    id: UUID
    parent_id: UUID | None
    identifier: str
    version: str
    state: TaskState
    attempt: int = Field(description="attempts started so far")
    failures: int
    lease_losses: int
    max_retries: int
    optional: bool
    depends_on: list[UUID]
    input: Any
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: TaskErrorOut | None = None
    worker_id: str | None = None


class JobDetail(JobOut):
    """``GET /jobs/{id}``: the job with every task."""

    tasks: list[TaskOut]


class JobPage(BaseModel):
    """A page of ``GET /jobs``, newest first; pass ``next_cursor`` as ``cursor`` for more."""

    jobs: list[JobOut]
    next_cursor: str | None = None


class EventOut(BaseModel):
    """One event of a job's durable log, as sent over SSE (``data:``) and WebSockets.

    ``type`` is ``state`` (``data``: state, status, error) or ``progress``
    (``data``: progress). ``id`` increases monotonically; resume after it.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "job_id": _JOB_ID,
                    "type": "progress",
                    "created_at": "2025-01-01T12:00:02Z",
                    "data": {"progress": _PROGRESS},
                }
            ]
        }
    )

    id: int
    job_id: UUID
    type: str
    created_at: datetime
    data: dict[str, Any]


class TaskDescription(BaseModel):
    """A task type this server accepts in ``POST /jobs``."""

    identifier: str
    version: str
    input_schema: dict[str, Any] | None = None


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error body: the fields at fault."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "loc": ["body", "task", "identifier"],
                            "msg": "unknown task 'Nope'",
                            "type": "unknown_task",
                        }
                    ]
                }
            ]
        }
    )

    detail: list[ErrorItem]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
