"""WebSockets: ``/jobs/{id}/ws`` streams one job's events; ``/ws`` also submits jobs.

Messages are the same JSON events as the SSE ``data:`` lines (``{"id", "job_id",
"type": "state" | "progress", "created_at", "data"}``). On ``/ws`` a client sends

- ``{"type": "submit", <POST /jobs body>, "idempotency_key"?: str, "request_id"?: any}``:
  answered ``{"type": "ack", "job_id", "status", ...}``, then that job's events;
- ``{"type": "subscribe", "job_id": str, "last_event_id"?: int}``: a job's events.

Problems are answered ``{"type": "error", "status", "detail": [...], "request_id"}``
and the connection stays open. Authentication (header or ``?api_key=``) and an
unknown job are refused before the handshake completes, with the same JSON body
and status an HTTP request would get.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import anyio
from anyio.abc import TaskGroup
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from conveyor.api import views
from conveyor.api.auth import tenant_for_token, websocket_token
from conveyor.api.deps import AppContext, get_context, urls_for
from conveyor.api.errors import RequestError, error_body
from conveyor.api.events import job_events
from conveyor.api.metrics import EVENT_SUBSCRIBERS, JOBS_SUBMITTED
from conveyor.api.schemas import JobRequest
from conveyor.api.submit import submit_job
from conveyor.exceptions import ConflictError, ConveyorError, JobNotFoundError
from conveyor.models import Job
from conveyor.workflows.client import JobClient

__all__ = ["router"]

router = APIRouter()

Send = Callable[[str], Awaitable[None]]
_CONTROL = ("type", "idempotency_key", "request_id")


def _problem(exc: Exception) -> tuple[int, list[dict[str, Any]]]:
    """The HTTP status and error items an exception would get from the REST API."""
    if isinstance(exc, RequestError):
        return exc.status, exc.items
    if isinstance(exc, JobNotFoundError):
        return 404, [{"loc": ["job_id"], "msg": str(exc), "type": "not_found"}]
    if isinstance(exc, ConflictError):
        loc = ["idempotency_key"]
        return 409, [{"loc": loc, "msg": str(exc), "type": "idempotency_conflict"}]
    if isinstance(exc, ValidationError):
        return 422, [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
    return 400, [{"loc": [], "msg": str(exc), "type": "value_error"}]


async def _authorize(websocket: WebSocket, job_id: str | None = None) -> tuple[str, Job | None]:
    """The tenant (and the job, checked to be theirs); RequestError/LookupError if refused."""
    ctx = get_context(websocket)
    tenant = await run_in_threadpool(tenant_for_token, ctx, websocket_token(websocket))
    if job_id is None:
        return tenant, None
    try:
        uuid = UUID(job_id)
    except ValueError:
        raise RequestError(422, ["path", "job_id"], "not a valid UUID", "uuid_parsing") from None
    return tenant, await run_in_threadpool(JobClient(ctx.store, tenant=tenant).find, uuid)


async def _deny(websocket: WebSocket, exc: Exception) -> None:
    """Refuse the handshake with the JSON error an HTTP request would get."""
    status, items = _problem(exc)
    headers = exc.headers if isinstance(exc, RequestError) else None
    try:
        await websocket.send_denial_response(
            JSONResponse(error_body(items), status_code=status, headers=headers)
        )
    except RuntimeError:  # the server does not support denial responses
        await websocket.close(code=1008)


async def _pump(
    ctx: AppContext, job_id: UUID, after: int, send: Send, *, ended: bool = False
) -> None:
    """Send a job's events (replay, then live) until its terminal event."""
    EVENT_SUBSCRIBERS.inc()
    try:
        async for batch in job_events(
            ctx.hub, job_id, after, keepalive=ctx.settings.sse_keepalive_seconds, ended=ended
        ):
            for event in batch:  # empty batches: WebSocket pings keep the connection alive
                await send(event.text)
    finally:
        EVENT_SUBSCRIBERS.dec()


def _last_event_id(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError(422, ["last_event_id"], "must be a non-negative integer")
    try:
        number = int(value)
    except ValueError:
        raise RequestError(422, ["last_event_id"], "must be a non-negative integer") from None
    if number < 0:
        raise RequestError(422, ["last_event_id"], "must be a non-negative integer")
    return number


@router.websocket("/jobs/{job_id}/ws")
async def job_socket(websocket: WebSocket, job_id: str) -> None:
    """Stream one job's events; closes (1000) after the terminal state event."""
    try:
        _, job = await _authorize(websocket, job_id)
        after = _last_event_id(websocket.query_params.get("last_event_id"))
    except (ConveyorError, ValueError) as exc:
        await _deny(websocket, exc)
        return
    assert job is not None
    ctx = get_context(websocket)
    await websocket.accept()
    async with anyio.create_task_group() as tg:

        async def until_disconnect() -> None:
            try:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                tg.cancel_scope.cancel()

        tg.start_soon(until_disconnect)
        try:
            await _pump(ctx, job.id, after, websocket.send_text, ended=job.state.terminal)
            await websocket.close(code=1000)
        except (WebSocketDisconnect, RuntimeError):
            pass
        tg.cancel_scope.cancel()


class _Session:
    """One ``/ws`` connection: its tenant, the jobs it follows, serialised sends."""

    def __init__(self, websocket: WebSocket, tenant: str, tg: TaskGroup) -> None:
        self.websocket = websocket
        self.ctx = get_context(websocket)
        self.tenant = tenant
        self.tg = tg
        self.following: set[UUID] = set()
        self.lock = anyio.Lock()

    async def send(self, text: str) -> None:
        async with self.lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                await self.websocket.send_text(text)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send(json.dumps(message, default=str))

    async def follow(self, job_id: UUID, after: int, *, ended: bool = False) -> None:
        if job_id in self.following:
            return
        self.following.add(job_id)

        async def run() -> None:
            try:
                await _pump(self.ctx, job_id, after, self.send, ended=ended)
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                self.following.discard(job_id)

        self.tg.start_soon(run)

    async def handle(self, raw: str) -> None:
        request_id = None
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                raise RequestError(422, [], "messages are JSON objects with a 'type'")
            request_id = message.get("request_id")
            kind = message.get("type")
            if kind == "submit":
                await self._submit(message, request_id)
            elif kind == "subscribe":
                await self._subscribe(message)
            else:
                raise RequestError(
                    422, ["type"], "type must be 'submit' or 'subscribe'", "literal_error"
                )
        except (ConveyorError, ValidationError, ValueError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                exc = RequestError(422, [], f"invalid JSON: {exc}", "json_invalid")
            status, items = _problem(exc)
            await self.send_json(
                {"type": "error", "status": status, "detail": items, "request_id": request_id}
            )

    async def _submit(self, message: dict[str, Any], request_id: Any) -> None:
        body = JobRequest.model_validate({k: v for k, v in message.items() if k not in _CONTROL})
        key = message.get("idempotency_key")
        if key is not None and not isinstance(key, str):
            raise RequestError(422, ["idempotency_key"], "must be a string", "string_type")
        job = await run_in_threadpool(
            submit_job, self.ctx, self.tenant, body, key, key_loc=("idempotency_key",)
        )
        JOBS_SUBMITTED.labels(body.task.identifier).inc()
        accepted = views.accepted(job, urls_for(self.websocket))
        await self.send_json(
            {"type": "ack", "job_id": str(job.id), "request_id": request_id}
            | accepted.model_dump(mode="json", exclude={"id"})
        )
        await self.follow(job.id, 0)

    async def _subscribe(self, message: dict[str, Any]) -> None:
        try:
            job_id = UUID(str(message.get("job_id")))
        except ValueError:
            raise RequestError(422, ["job_id"], "not a valid UUID", "uuid_parsing") from None
        after = _last_event_id(message.get("last_event_id"))
        job = await run_in_threadpool(JobClient(self.ctx.store, tenant=self.tenant).find, job_id)
        await self.follow(job.id, after, ended=job.state.terminal)


@router.websocket("/ws")
async def socket(websocket: WebSocket) -> None:
    """Submit jobs and follow their events on one connection (see the module docstring)."""
    try:
        tenant, _ = await _authorize(websocket)
    except (ConveyorError, ValueError) as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    async with anyio.create_task_group() as tg:
        session = _Session(websocket, tenant, tg)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = (message.get("bytes") or b"").decode("utf-8", "replace")
                await session.handle(raw)
        finally:
            tg.cancel_scope.cancel()
