"""``AsyncClient``: the same ``jobs()`` API as ``RemoteClient``, for asyncio code.

The operations themselves live once in ``_ops`` (sans-I/O); this module only
drives them with ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx

from conveyor.models import Event, Job, JobState, TaskInfo
from conveyor.remote import _ops
from conveyor.remote._ops import Op
from conveyor.remote._sse import Watch
from conveyor.remote.client import STREAM_READ_TIMEOUT, client_headers, unreachable
from conveyor.remote.errors import raise_for_response
from conveyor.workflows.task import Task

__all__ = ["AsyncClient", "AsyncJobClient"]

T = TypeVar("T")


class AsyncJobClient:
    """Submit, find, query, cancel, retry and watch jobs of a Conveyor server (async)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                try:
                    response = await self.http.request(
                        request.method,
                        request.path,
                        params=request.params or None,
                        json=request.json,
                        headers=request.headers or None,
                    )
                except httpx.TransportError as exc:
                    raise unreachable(str(self.http.base_url), exc) from exc
                request = op.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def submit(
        self,
        name: str,
        task: Task | Mapping[str, Any],
        max_retries: int = 0,
        *,
        callback_url: str | None = None,
        webhook_events: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job whose root task is ``task`` (a Task, or ``{"identifier", "input"}``)."""
        return await self._run(
            _ops.submit(
                name,
                task,
                max_retries,
                callback_url=callback_url,
                webhook_events=webhook_events,
                idempotency_key=idempotency_key,
            )
        )

    async def find(self, job_id: UUID | str | Job) -> Job:
        """A fresh snapshot of the job, progress included."""
        return await self._run(_ops.find(job_id))

    async def status(self, job_id: UUID | str | Job) -> dict[str, Any]:
        """The job's status document (``GET /jobs/{id}/status``)."""
        return await self._run(_ops.status(job_id))

    async def query(
        self,
        states: Sequence[JobState | str] | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs newest first, filtered by state, name and submission time."""
        return await self._run(_ops.query(states, name, since, until, limit))

    async def cancel(self, job_id: UUID | str | Job) -> Job:
        """Cancel the job."""
        return await self._run(_ops.cancel(job_id))

    async def retry(self, job_id: UUID | str | Job) -> Job:
        """Run a FAILED or CANCELED job's failed and cancelled tasks again."""
        return await self._run(_ops.retry(job_id))

    async def tasks(self, job_id: UUID | str | Job) -> list[TaskInfo]:
        """The job's tasks with their states, attempts and errors."""
        return await self._run(_ops.tasks(job_id))

    async def download(self, job_id: UUID | str | Job, name: str) -> bytes:
        """The bytes of a result of the job."""
        return await self._run(_ops.download(job_id, name))

    async def watch(
        self,
        job_id: UUID | str | Job,
        *,
        last_event_id: int | None = None,
        max_reconnects: int = 10,
        reconnect_delay: float | None = None,
    ) -> AsyncIterator[Event]:
        """The job's events as they happen, resuming after a broken stream (see
        ``RemoteJobClient.watch``)."""
        watch = Watch(_ops.job_id_of(job_id), last_event_id, max_reconnects, reconnect_delay)
        timeout = httpx.Timeout(self.http.timeout.connect, read=STREAM_READ_TIMEOUT)
        while True:
            reason: object = None
            try:
                async with self.http.stream(
                    "GET", watch.path, headers=watch.headers(), timeout=timeout
                ) as response:
                    if response.status_code == 204:
                        return  # the job ended and every event was already seen
                    if response.status_code < 500:
                        if not response.is_success:
                            await response.aread()
                        raise_for_response(response)
                        watch.connected()
                        async for line in response.aiter_lines():
                            event = watch.feed(line)
                            if event is not None:
                                yield event
                                if watch.done:
                                    return
                    else:
                        reason = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                reason = exc
            await asyncio.sleep(watch.ended() if reason is None else watch.interrupted(reason))


class AsyncClient:
    """A Conveyor server for asyncio code: ``AsyncClient(url, api_key=...).jobs()``."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers=client_headers(api_key),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def jobs(self) -> AsyncJobClient:
        """Submit, find, query, cancel, retry and watch jobs."""
        return AsyncJobClient(self.http)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
