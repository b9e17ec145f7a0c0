"""Jobs, tasks and events as the API shows them (models → response schemas).

Presentation only: each function takes what the store returned and builds the
wire shape; routers decide what to fetch.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from conveyor.api.deps import Urls
from conveyor.api.schemas import (
    PUBLIC_STATUS,
    ErrorOut,
    JobAccepted,
    JobDetail,
    JobOut,
    JobResult,
    JobStatus,
    ProgressOut,
    ResultFile,
    TaskErrorOut,
    TaskOut,
)
from conveyor.blobs import BlobNotFoundError, BlobStore
from conveyor.models import ErrorInfo, Event, Job, JobState, TaskInfo

__all__ = [
    "accepted",
    "event_payload",
    "inline_results",
    "job_detail",
    "job_out",
    "job_status",
]

log = logging.getLogger("conveyor.api")


def _error(error: ErrorInfo | None) -> ErrorOut | None:
    if error is None:
        return None
    return ErrorOut(type=error.type, message=error.message, task_id=error.task_id)


def _progress(job: Job) -> list[ProgressOut]:
    return [ProgressOut(label=p.label, total=p.total, done=p.done) for p in job.progress]


def _files(job: Job, urls: Urls) -> list[ResultFile]:
    return [
        ResultFile(
            name=r.name, url=urls.result(job.id, r.name), content_type=r.content_type, size=r.size
        )
        for r in job.results
    ]


def accepted(job: Job, urls: Urls) -> JobAccepted:
    return JobAccepted(
        id=job.id,
        status=PUBLIC_STATUS[job.state],
        status_url=urls.status(job.id),
        events_url=urls.events(job.id),
        websocket_url=urls.websocket(job.id),
    )


def inline_results(job: Job, blobs: BlobStore, max_bytes: int) -> dict[str, Any]:
    """Small JSON results, parsed, so a polling client needs no second request."""
    inline: dict[str, Any] = {}
    for r in job.results:
        if r.size > max_bytes or not r.content_type.startswith("application/json"):
            continue
        try:
            inline[r.name] = json.loads(blobs.get(r.blob_key))
        except (BlobNotFoundError, ValueError) as exc:
            log.warning("cannot inline result %s of job %s: %s", r.name, job.id, exc)
    return inline


def job_status(
    job: Job,
    urls: Urls,
    *,
    queue_position: int | None = None,
    eta_seconds: float | None = None,
    inline: dict[str, Any] | None = None,
) -> JobStatus:
    result = None
    if job.state is JobState.COMPLETED:
        result = JobResult(files=_files(job, urls), inline=inline or {})
    return JobStatus(
        id=job.id,
        name=job.name,
        status=PUBLIC_STATUS[job.state],
        state=job.state,
        progress=_progress(job),
        queue_position=queue_position,
        eta_seconds=eta_seconds,
        result=result,
        error=_error(job.error),
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _job_fields(job: Job, urls: Urls) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "tenant": job.tenant,
        "status": PUBLIC_STATUS[job.state],
        "state": job.state,
        "progress": _progress(job),
        "error": _error(job.error),
        "results": _files(job, urls),
        "callback_url": job.callback_url,
        "webhook_events": job.webhook_events,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def job_out(job: Job, urls: Urls) -> JobOut:
    return JobOut(**_job_fields(job, urls))


def _task(task: TaskInfo) -> TaskOut:
    error = None
    if task.error is not None:
        error = TaskErrorOut(
            type=task.error.type,
            message=task.error.message,
            task_id=task.error.task_id,
            traceback=task.error.traceback,
        )
    return TaskOut(
        id=task.id,
        parent_id=task.parent_id,
        identifier=task.identifier,
        version=task.version,
        state=task.state,
        attempt=task.attempt,
        failures=task.failures,
        lease_losses=task.lease_losses,
        max_retries=task.max_retries,
        optional=task.optional,
        depends_on=task.depends_on,
        input=task.input,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        error=error,
        worker_id=task.worker_id,
    )


def job_detail(job: Job, tasks: list[TaskInfo], urls: Urls) -> JobDetail:
    return JobDetail(**_job_fields(job, urls), tasks=[_task(t) for t in tasks])


def event_payload(event: Event) -> dict[str, Any]:
    """The public JSON of an event: state events also carry the public ``status``, and
    errors lose their traceback (the full job view has it)."""
    data = dict(event.data)
    if event.type == "state" and "state" in data:
        data["status"] = PUBLIC_STATUS.get(JobState(data["state"]), data["state"])
        error = data.get("error")
        if isinstance(error, dict):
            data["error"] = {k: error.get(k) for k in ("type", "message", "task_id")}
    return {
        "id": event.id,
        "job_id": str(event.job_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": data,
    }
