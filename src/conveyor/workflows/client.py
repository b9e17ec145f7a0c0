"""The embedded client: submit and inspect jobs in a database this process opens itself.

``Client()`` uses ``CONVEYOR_DATABASE_URL`` or ``./conveyor.db`` with blobs in
``./conveyor-data``; ``Client("http://...")`` returns the HTTP client with the
same ``jobs()`` API (``conveyor.remote``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from conveyor.blobs import BlobStore, open_blobs
from conveyor.ids import new_id, parse_id
from conveyor.models import Job, JobState, TaskInfo
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
        """Submit, find, query, cancel and retry jobs."""
        return JobClient(self.store)

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


class JobClient:
    """Jobs in one store. The HTTP client (``conveyor.remote``) offers the same methods."""

    def __init__(self, store: Store, tenant: str | None = None) -> None:
        self.store = store
        self.tenant = tenant

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
