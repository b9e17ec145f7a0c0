"""``/jobs``: submit (202 + where to follow), poll status, list, inspect, cancel, retry.

Routes are plain ``def``: FastAPI runs them in its thread pool, which is where the
blocking store calls belong.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from conveyor.api import views
from conveyor.api.deps import AppContext
from conveyor.api.eta import estimate_eta
from conveyor.api.metrics import JOBS_SUBMITTED
from conveyor.api.pagination import decode_cursor, encode_cursor
from conveyor.api.params import Ctx, IdempotencyKey, Tenant, UrlsDep
from conveyor.api.schemas import (
    ErrorResponse,
    JobAccepted,
    JobDetail,
    JobOut,
    JobPage,
    JobRequest,
    JobStatus,
)
from conveyor.api.submit import submit_job
from conveyor.models import JobState
from conveyor.workflows.client import JobClient

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "no such job (or another tenant's)"},
    422: {"model": ErrorResponse, "description": "invalid request: `loc` names the field"},
}
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorResponse, "description": "the job's state does not allow this"}
}
StateName = Literal["QUEUED", "STARTED", "COMPLETED", "FAILED", "CANCELED", "PENDING", "PROCESSING"]
_BY_STATUS = {"PENDING": JobState.QUEUED, "PROCESSING": JobState.STARTED}


def _bound(value: datetime | None) -> datetime | None:
    """Times travel at microsecond resolution while the store keeps finer ones: shift a bound
    by 1 us so passing a job's own ``submitted_at`` back selects it (since) / excludes it
    (until) as a client expects."""
    return None if value is None else value - timedelta(microseconds=1)


def _jobs(ctx: AppContext, tenant: str) -> JobClient:
    return JobClient(ctx.store, tenant=tenant)


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobAccepted,
    summary="Submit a job",
    responses={
        **{k: v for k, v in _ERRORS.items() if k != 404},
        409: {"model": ErrorResponse, "description": "Idempotency-Key reused with another body"},
    },
)
def create_job(
    body: JobRequest,
    response: Response,
    ctx: Ctx,
    tenant: Tenant,
    urls: UrlsDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Queue a job and answer at once (202) with the URLs to follow it: poll ``status_url``
    (``Retry-After`` suggests how often), stream ``events_url`` (SSE) or ``websocket_url``."""
    job = submit_job(ctx, tenant, body, idempotency_key)
    JOBS_SUBMITTED.labels(body.task.identifier).inc()
    out = views.accepted(job, urls)
    response.headers["Location"] = out.status_url
    response.headers["Retry-After"] = str(ctx.settings.poll_after_seconds)
    return out


@router.get("/jobs", response_model=JobPage, summary="List jobs", responses=_ERRORS)
def list_jobs(
    ctx: Ctx,
    tenant: Tenant,
    urls: UrlsDep,
    state: Annotated[
        list[StateName] | None,
        Query(description="repeatable; engine states or public statuses"),
    ] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="submitted at or after")] = None,
    until: Annotated[datetime | None, Query(description="submitted before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="a page's next_cursor")] = None,
) -> JobPage:
    """The tenant's jobs, newest first, with cursor pagination."""
    states = sorted({_BY_STATUS.get(s) or JobState(s) for s in state}) if state else None
    before = decode_cursor(cursor) if cursor else None
    found = ctx.store.query_jobs(
        states=states,
        name=name,
        since=_bound(since),
        until=_bound(until),
        limit=limit + 1,
        before=before,
        tenant=tenant,
    )
    page = found[:limit]
    next_cursor = encode_cursor(ctx.store.job_cursor(page[-1].id)) if len(found) > limit else None
    return JobPage(jobs=[views.job_out(j, urls) for j in page], next_cursor=next_cursor)


@router.get(
    "/jobs/{job_id}/status", response_model=JobStatus, summary="Poll a job", responses=_ERRORS
)
def job_status(
    job_id: UUID, response: Response, ctx: Ctx, tenant: Tenant, urls: UrlsDep
) -> JobStatus:
    """Status, progress, queue position and ETA while pending, result or error when done."""
    job = _jobs(ctx, tenant).find(job_id)
    position = ctx.store.queue_position(job.id) if job.state is JobState.QUEUED else None
    eta = None
    if not job.state.terminal:
        eta = estimate_eta(job, ctx.store.timing_stats(job.name), position)
        response.headers["Retry-After"] = str(ctx.settings.poll_after_seconds)
    inline = None
    if job.state is JobState.COMPLETED:
        inline = views.inline_results(job, ctx.blobs, ctx.settings.inline_result_max_bytes)
    return views.job_status(job, urls, queue_position=position, eta_seconds=eta, inline=inline)


@router.get("/jobs/{job_id}", response_model=JobDetail, summary="Inspect a job", responses=_ERRORS)
def get_job(job_id: UUID, ctx: Ctx, tenant: Tenant, urls: UrlsDep) -> JobDetail:
    """The full job: every task with its state, attempts, timestamps and error."""
    jobs = _jobs(ctx, tenant)
    job = jobs.find(job_id)
    return views.job_detail(job, jobs.store.list_tasks(job.id), urls)


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    responses={**_ERRORS, **_CONFLICT},
)
def cancel_job(job_id: UUID, ctx: Ctx, tenant: Tenant, urls: UrlsDep) -> JobOut:
    """Queued tasks never start; running ones stop at their next progress call."""
    with ctx.writing():
        job = _jobs(ctx, tenant).cancel(job_id)
    return views.job_out(job, urls)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobOut,
    summary="Retry a failed or canceled job",
    responses={**_ERRORS, **_CONFLICT},
)
def retry_job(job_id: UUID, ctx: Ctx, tenant: Tenant, urls: UrlsDep) -> JobOut:
    """Queue a FAILED or CANCELED job's failed and cancelled tasks again."""
    with ctx.writing():
        job = _jobs(ctx, tenant).retry(job_id)
    return views.job_out(job, urls)
