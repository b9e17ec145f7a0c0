"""``RemoteClient``: the embedded client's ``jobs()`` API over HTTP (blocking, httpx).

``Client("http://host:8000", api_key=...)`` returns one. The API key defaults to
``CONVEYOR_API_KEY``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx

from conveyor.models import Event, Job, JobState, TaskInfo
from conveyor.remote import _ops
from conveyor.remote._ops import Op
from conveyor.remote._sse import Watch
from conveyor.remote.errors import RemoteError, raise_for_response
from conveyor.workflows.task import Task

__all__ = ["RemoteClient", "RemoteJobClient", "client_headers"]

T = TypeVar("T")
#: Streams idle longer than this reconnect (the server sends keep-alives every 15 s).
STREAM_READ_TIMEOUT = 60.0


def client_headers(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else os.environ.get("CONVEYOR_API_KEY")
    headers = {"User-Agent": "conveyor-remote"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def unreachable(url: str, exc: Exception) -> RemoteError:
    return RemoteError(f"cannot reach {url}: {exc or type(exc).__name__}")


class RemoteJobClient:
    """Submit, find, query, cancel, retry and watch jobs of a Conveyor server."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                try:
                    response = self.http.request(
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

    def submit(
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
        return self._run(
            _ops.submit(
                name,
                task,
                max_retries,
                callback_url=callback_url,
                webhook_events=webhook_events,
                idempotency_key=idempotency_key,
            )
        )

    def find(self, job_id: UUID | str | Job) -> Job:
        """A fresh snapshot of the job, progress included."""
        return self._run(_ops.find(job_id))

    def status(self, job_id: UUID | str | Job) -> dict[str, Any]:
        """The job's status document (``GET /jobs/{id}/status``): ETA, queue position, result."""
        return self._run(_ops.status(job_id))

    def query(
        self,
        states: Sequence[JobState | str] | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs newest first, filtered by state, name and submission time."""
        return self._run(_ops.query(states, name, since, until, limit))

    def cancel(self, job_id: UUID | str | Job) -> Job:
        """Cancel the job."""
        return self._run(_ops.cancel(job_id))

    def retry(self, job_id: UUID | str | Job) -> Job:
        """Run a FAILED or CANCELED job's failed and cancelled tasks again."""
        return self._run(_ops.retry(job_id))

    def tasks(self, job_id: UUID | str | Job) -> list[TaskInfo]:
        """The job's tasks with their states, attempts and errors."""
        return self._run(_ops.tasks(job_id))

    def download(self, job_id: UUID | str | Job, name: str) -> bytes:
        """The bytes of a result of the job."""
        return self._run(_ops.download(job_id, name))

    def watch(
        self,
        job_id: UUID | str | Job,
        *,
        last_event_id: int | None = None,
        max_reconnects: int = 10,
        reconnect_delay: float | None = None,
    ) -> Iterator[Event]:
        """The job's events (state and progress) as they happen, from the start or after
        ``last_event_id``; reconnects and resumes if the stream breaks, and ends after the
        job's terminal state event. Reconnects wait ``reconnect_delay`` seconds (default: the
        server's hint), doubling while they fail; ``max_reconnects`` failures in a row raise
        RemoteError."""
        watch = Watch(_ops.job_id_of(job_id), last_event_id, max_reconnects, reconnect_delay)
        timeout = httpx.Timeout(self.http.timeout.connect, read=STREAM_READ_TIMEOUT)
        while True:
            reason: object = None
            try:
                with self.http.stream(
                    "GET", watch.path, headers=watch.headers(), timeout=timeout
                ) as response:
                    if response.status_code == 204:
                        return  # the job ended and every event was already seen
                    if response.status_code < 500:
                        if not response.is_success:
                            response.read()
                        raise_for_response(response)
                        watch.connected()
                        for line in response.iter_lines():
                            event = watch.feed(line)
                            if event is not None:
                                yield event
                                if watch.done:
                                    return
                    else:
                        reason = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                reason = exc
            time.sleep(watch.ended() if reason is None else watch.interrupted(reason))


class RemoteClient:
    """A Conveyor server as a client: ``RemoteClient(url, api_key=...).jobs()``."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers=client_headers(api_key),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def jobs(self) -> RemoteJobClient:
        """Submit, find, query, cancel, retry and watch jobs."""
        return RemoteJobClient(self.http)

    def runner(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "runners execute tasks from the database: use Client('sqlite:///...') or "
            "Client('postgresql://...') on the worker machine"
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
