"""``POST /generate``: queue an image generation job; ``GET /jobs/{id}/previews/...``: its
live previews.

The request is checked against the model's spec (torch-free, see
:mod:`conveyor.diffusion.validation`) and becomes a ``Generate`` job through the same
submission path as ``POST /jobs``: ``202`` with the URLs to follow it, ``Location``,
``Retry-After``, ``Idempotency-Key``, and ``callback_url`` behind the SSRF guard.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from conveyor.api import views
from conveyor.api.errors import RequestError
from conveyor.api.metrics import JOBS_SUBMITTED
from conveyor.api.params import Ctx, IdempotencyKey, Tenant, UrlsDep
from conveyor.api.schemas import ErrorResponse, JobAccepted, WebhookEvent
from conveyor.api.submit import check_idempotency_key, request_hash, submit_task
from conveyor.blobs import BlobNotFoundError
from conveyor.diffusion.previews import preview_key
from conveyor.diffusion.request import (
    MAX_IMAGES_PER_REQUEST,
    MAX_INFERENCE_STEPS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
)
from conveyor.diffusion.runtime import current_registry
from conveyor.diffusion.validation import FieldError, generation_task
from conveyor.workflows.client import JobClient

__all__ = ["GenerateRequest", "router"]

router = APIRouter(tags=["generate"])

Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]


class GenerateRequest(BaseModel):
    """Body of ``POST /generate``. Unset sizes and guidance take the model's defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"prompt": "draw the digit seven", "num_images": 4, "preview_every": 5},
                {"prompts": [str(d) for d in range(10)], "seed": 7, "width": 64},
            ]
        },
    )

    prompt: Prompt | None = Field(
        None, description="what to draw; for the digits model a digit: '7', 'a seven'"
    )
    prompts: list[Prompt] | None = Field(
        None,
        min_length=1,
        max_length=MAX_IMAGES_PER_REQUEST,
        description="instead of prompt: one image per prompt, in this order",
    )
    model: str = Field("digits", min_length=1, max_length=200)
    num_inference_steps: int = Field(20, ge=1, le=MAX_INFERENCE_STEPS)
    guidance_scale: float | None = Field(None, ge=0, le=100)
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="image i uses seed + i; default: drawn at submit"
    )
    width: int | None = Field(None, ge=1, le=4096)
    height: int | None = Field(None, ge=1, le=4096)
    num_images: int | None = Field(
        None, ge=1, le=MAX_IMAGES_PER_REQUEST, description="default 1 (or len(prompts))"
    )
    preview_every: int | None = Field(
        None, ge=1, le=MAX_INFERENCE_STEPS, description="a preview event every k steps"
    )
    callback_url: str | None = Field(
        None, max_length=2048, description="receives signed webhooks (Standard Webhooks)"
    )
    webhook_events: list[WebhookEvent] | None = Field(
        None, max_length=5, description="default: job.completed, job.failed, job.canceled"
    )


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    409: {"model": ErrorResponse, "description": "Idempotency-Key reused with another body"},
    422: {"model": ErrorResponse, "description": "invalid request: `loc` names the field"},
}


@router.post(
    "/generate",
    status_code=202,
    response_model=JobAccepted,
    summary="Generate images",
    responses=_ERRORS,
)
def generate(
    body: GenerateRequest,
    response: Response,
    ctx: Ctx,
    tenant: Tenant,
    urls: UrlsDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Queue a generation job and answer at once (202). Its progress has the indicators
    ``denoise`` (steps x images), ``images`` and ``upload``; ``preview`` events carry preview
    URLs; results are ``image_{i}.png``, ``contact_sheet.png`` and ``generation.json``."""
    key = check_idempotency_key(idempotency_key, ("header", "Idempotency-Key"))
    fields = body.model_dump(exclude={"callback_url", "webhook_events"})
    try:
        task = generation_task(current_registry(), **fields)
    except FieldError as exc:
        raise RequestError(422, ("body", *exc.loc), str(exc), "value_error") from exc
    job = submit_task(
        ctx,
        tenant,
        f"generate:{body.model}",
        task,
        callback_url=body.callback_url,
        webhook_events=body.webhook_events,
        idempotency_key=key,
        fingerprint=request_hash(body) if key else None,
    )
    JOBS_SUBMITTED.labels("Generate").inc()
    out = views.accepted(job, urls)
    response.headers["Location"] = out.status_url
    response.headers["Retry-After"] = str(ctx.settings.poll_after_seconds)
    return out


@router.get(
    "/jobs/{job_id}/previews/{index}/{step}.png",
    summary="Download a preview",
    response_class=Response,
    responses={
        200: {"description": "a low-resolution PNG", "content": {"image/png": {}}},
        401: {"model": ErrorResponse, "description": "missing or invalid API key"},
        404: {"model": ErrorResponse, "description": "no such job or preview"},
    },
)
def preview(
    job_id: UUID,
    index: Annotated[int, Path(ge=0, le=MAX_IMAGES_PER_REQUEST)],
    step: Annotated[int, Path(ge=1, le=MAX_INFERENCE_STEPS)],
    ctx: Ctx,
    tenant: Tenant,
) -> Response:
    """A preview announced by a ``preview`` event of the job (kept while the job is)."""
    job = JobClient(ctx.store, tenant=tenant).find(job_id)
    try:
        data = ctx.blobs.get(preview_key(job.id, index, step))
    except BlobNotFoundError:
        raise RequestError(
            404, ["path", "step"], f"job {job_id} has no preview {index}/{step}", "not_found"
        ) from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})
