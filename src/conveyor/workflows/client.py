"""The embedded client: submit and inspect jobs in a database this process opens itself.

``Client()`` uses ``CONVEYOR_DATABASE_URL`` or ``./conveyor.db`` with blobs in
``./conveyor-data``; ``Client("http://...")`` returns the HTTP client with the
same ``jobs()`` API (``conveyor.remote``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from conveyor.blobs import BlobNotFoundError, BlobStore, open_blobs
from conveyor.exceptions import ResultNotFoundError
from conveyor.ids import new_id, parse_id
from conveyor.models import Event, Job, JobState, TaskInfo
from conveyor.settings import env_blobs_url, env_database_url
from conveyor.store import NewJob, Store, open_store
from conveyor.workflows._serde import new_task
from conveyor.workflows.task import Task

if TYPE_CHECKING:
    from conveyor.workflows.runner import Runner

__all__ = ["Client", "JobClient", "blobs_url_for"]


def blobs_url_for(database_url: str) -> str:
    """Default blob location for a database: ``x.db`` keeps its blobs in ``x-data/`` beside it."""
    if os.environ.get("CONVEYOR_BLOBS_URL"):
        return env_blobs_url()
    if database_url.startswith("sqlite:"):
        from conveyor.store.sqlite import sqlite_path

        path = sqlite_path(database_url)
        if path != ":memory:":
            db = Path(path).resolve()
            return db.with_name(f"{db.stem}-data").as_uri()
    return env_blobs_url()


class Client:
    """Entry point of the SDK: ``Client().jobs()`` and ``Client().runner(tasks=[...])``."""

    def __new__(cls, url: str | None = None, **kwargs: Any) -> Any:
        if url is not None and url.startswith(("http://", "https://")):
            from conveyor.remote import RemoteClient

            return RemoteClient(url, **kwargs)
        return super().__new__(cls)

    def __init__(self, url: str | None = None, *, blobs_url: str | None = None) -> None:
        self.url = url or env_database_url()
        self.store: Store = open_store(self.url)
        self.blobs: BlobStore = open_blobs(blobs_url or blobs_url_for(self.url))

    def jobs(self) -> JobClient:
        """Submit, find, query, cancel and retry jobs; download results, watch events."""
        return JobClient(self.store, blobs=self.blobs)

    def runner(self, tasks: Sequence[type[Task]], **options: Any) -> Runner:
        """A runner executing the given task classes from this client's database."""
        from conveyor.workflows.runner import Runner

        return Runner(self.store, self.blobs, tasks, **options)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _job_id(job: UUID | str | Job) -> UUID:
    if isinstance(job, Job):
        return job.id
    return parse_id(job)


#: The event types ``watch`` yields, as the HTTP client's does (previews and other events
#: that tasks publish are on the job's SSE and WebSocket streams).
_WATCHED = ("state", "progress")


class JobClient:
    """Jobs in one store. The HTTP client (``conveyor.remote``) offers the same methods.

    ``blobs`` is where results are read from (``download``); ``Client().jobs()`` passes its own.
    """

    def __init__(
        self, store: Store, tenant: str | None = None, *, blobs: BlobStore | None = None
    ) -> None:
        self.store = store
        self.tenant = tenant
        self.blobs = blobs

    def submit(
        self,
        name: str,
        task: Task,
        max_retries: int = 0,
        *,
        callback_url: str | None = None,
        webhook_events: list[str] | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Job:
        """Submit a job whose root task is ``task``; returns it QUEUED."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a job needs a non-empty name")
        root = new_task(task, max_retries=max_retries)
        return self.store.create_job(
            NewJob(
                id=new_id(),
                name=name,
                root=root,
                tenant=self.tenant or "default",
                callback_url=callback_url,
                webhook_events=webhook_events,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        )

    def find(self, job_id: UUID | str | Job) -> Job:
        """A fresh snapshot of the job, progress included."""
        return self.store.get_job(_job_id(job_id), self.tenant)

    def query(
        self,
        states: Sequence[JobState | str] | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs newest first, filtered by state, name and submission time."""
        return self.store.query_jobs(
            states=[JobState(s) for s in states] if states else None,
            name=name,
            since=since,
            until=until,
            limit=limit,
            tenant=self.tenant,
        )

    def cancel(self, job_id: UUID | str | Job) -> Job:
        """Cancel the job: queued tasks never start; running ones stop at their next progress."""
        return self.store.cancel_job(_job_id(job_id), self.tenant)

    def retry(self, job_id: UUID | str | Job) -> Job:
        """Run a FAILED or CANCELED job's failed and cancelled tasks again."""
        return self.store.retry_job(_job_id(job_id), self.tenant)

    def tasks(self, job_id: UUID | str | Job) -> list[TaskInfo]:
        """The job's tasks with their states, attempts and errors."""
        job = self.find(job_id)
        return self.store.list_tasks(job.id)

    def download(self, job_id: UUID | str | Job, name: str) -> bytes:
        """The bytes of result ``name`` of the job (ResultNotFoundError if it has none)."""
        job = self.find(job_id)
        result = next((r for r in job.results if r.name == name), None)
        if result is None:
            raise ResultNotFoundError(f"job {job.id} has no result {name!r}")
        if self.blobs is None:
            raise RuntimeError("this JobClient has no blob store: use Client(url).jobs()")
        try:
            return self.blobs.get(result.blob_key)
        except BlobNotFoundError:
            raise ResultNotFoundError(
                f"result {name!r} of job {job.id} is gone from the blob store"
            ) from None

    def watch(
        self,
        job_id: UUID | str | Job,
        *,
        last_event_id: int | None = None,
        poll_interval: float = 0.1,
    ) -> Iterator[Event]:
        """The job's state and progress events as they are committed, from the start or
        after ``last_event_id``, until its terminal state event (at once if that was before
        ``last_event_id``). Reads the job's event log every ``poll_interval`` seconds.

        Progress arrives as often as runners flush it (``progress_interval``), not at every
        ``add()``. State events carry the internal ``state`` (QUEUED, STARTED, ...); the HTTP
        client's also carry the public ``status``.
        """
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        job = self.find(job_id)  # JobNotFoundError, also for another tenant's job
        # A job still running will log its terminal state event; only one that had ended
        # when the watch began may have logged it before ``last_event_id``.
        ended = job.state.terminal
        after = last_event_id or 0
        while True:
            events = self.store.events_after(job.id, after)
            for event in events:
                after = event.id
                if event.type not in _WATCHED:
                    continue
                yield event
                if event.type == "state" and JobState(event.data["state"]).terminal:
                    return
            if events:
                continue  # read on until the log is drained, then wait
            if (
                ended
                and self.find(job.id).state.terminal
                and not self.store.events_after(job.id, after)
            ):
                return  # ended before ``last_event_id``: nothing more will come
            time.sleep(poll_interval)
