"""``GET /jobs/{id}/events``: a job's events as Server-Sent Events, resumable.

Each message carries ``id:`` (the event's monotonic id), ``event:`` (``state`` or
``progress``) and ``data:`` (the event's JSON). A client that reconnects with
``Last-Event-ID`` (browsers' EventSource do it by themselves) continues right after
the last event it saw. The stream ends after the job's terminal state event (a
client that reconnects after it gets ``204 No Content``, which stops browsers'
EventSource from reconnecting again), or
after ``sse_max_seconds`` (clients then resume, so long-lived connections get
recycled across servers); comments keep idle connections alive through proxies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from conveyor.api.auth import current_tenant
from conveyor.api.deps import AppContext, get_context
from conveyor.api.events import job_events
from conveyor.api.metrics import EVENT_SUBSCRIBERS
from conveyor.workflows.client import JobClient

__all__ = ["EventStreamResponse", "router"]

router = APIRouter(tags=["events"])

_EXAMPLE = (
    "retry: 1000\n\n"
    "id: 41\nevent: state\n"
    'data: {"id":41,"job_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","type":"state",'
    '"created_at":"2025-01-01T12:00:01+00:00","data":{"state":"STARTED","status":"PROCESSING"}}'
    "\n\n"
)

# Spelled out: with an event-stream route, FastAPI would file a ``model`` under that type.
_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}

#: One message of the stream (OpenAPI 3.1 reads an event-stream ``schema`` per event).
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the event id: resume with Last-Event-ID"},
        "event": {"type": "string", "enum": ["state", "progress"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/EventOut"},
        },
        "retry": {"type": "integer", "description": "reconnect delay in milliseconds"},
    },
}


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventStreamResponse,
    summary="Stream a job's events (SSE)",
    responses={
        200: {
            "description": "Server-Sent Events; `data:` is an EventOut JSON object",
            "content": {"text/event-stream": {"schema": _SSE_EVENT, "example": _EXAMPLE}},
        },
        204: {"description": "the job has ended and the client has seen all its events"},
        401: {"description": "missing or invalid API key", "content": _JSON_ERROR},
        404: {"description": "no such job (or another tenant's)", "content": _JSON_ERROR},
        422: {"description": "invalid Last-Event-ID", "content": _JSON_ERROR},
    },
)
async def stream_events(
    job_id: UUID,
    ctx: Annotated[AppContext, Depends(get_context)],
    tenant: Annotated[str, Depends(current_tenant)],
    last_event_id: Annotated[
        int | None, Query(ge=0, le=2**62, description="resume after this event id")
    ] = None,
    last_event_id_header: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=2**62, description="resume after this id"),
    ] = None,
) -> Response:
    """Replays the job's events after ``Last-Event-ID`` (header, else query; default: from
    the start), then streams new ones live until the job ends."""
    job = await run_in_threadpool(JobClient(ctx.store, tenant=tenant).find, job_id)
    after = last_event_id_header if last_event_id_header is not None else (last_event_id or 0)
    if job.state.terminal and not await run_in_threadpool(ctx.store.events_after, job.id, after, 1):
        # Seen it all: 204 is how SSE tells a client (EventSource) to stop reconnecting.
        return Response(status_code=204)
    keepalive = ctx.settings.sse_keepalive_seconds
    max_seconds = ctx.settings.sse_max_seconds

    async def body() -> AsyncIterator[bytes]:
        EVENT_SUBSCRIBERS.inc()
        try:
            yield b"retry: 1000\n\n"
            async for batch in job_events(
                ctx.hub, job_id, after, keepalive=keepalive, max_seconds=max_seconds
            ):
                yield b"".join(e.sse for e in batch) if batch else b": keep-alive\n\n"
        finally:
            EVENT_SUBSCRIBERS.dec()

    return EventStreamResponse(
        body(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
