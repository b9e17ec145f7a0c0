"""What every route needs, held by the app (``app.state.conveyor``) and handed out as
FastAPI dependencies: the store, the blob store, the event hub, the task catalog, URLs.

Nothing here is the source of truth for a job: the store is. Any number of API
servers can serve the same database.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote
from uuid import UUID

from starlette.requests import HTTPConnection

from conveyor.api.catalog import TaskCatalog
from conveyor.blobs import BlobStore
from conveyor.settings import Settings
from conveyor.store import Store

if TYPE_CHECKING:
    from conveyor.api.events import EventHub

__all__ = ["AppContext", "Urls", "get_context", "urls_for"]


@dataclass
class AppContext:
    """The long-lived objects of one API process."""

    settings: Settings
    store: Store
    blobs: BlobStore
    catalog: TaskCatalog
    hub: EventHub
    #: (expires at, active key count): whether dev mode applies, re-read every few seconds.
    key_count_cache: tuple[float, int] = field(default=(0.0, 0))
    #: API key → (expires at, tenant) of recent successful authentications (auth.py).
    auth_cache: dict[str, tuple[float, str]] = field(default_factory=dict)
    _write_lock: threading.Lock | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.store.url.startswith("sqlite:"):
            self._write_lock = threading.Lock()

    def writing(self) -> AbstractContextManager[object]:
        """Hold around a job write (blocking: in a worker thread).

        SQLite admits one writer at a time. Without this, the request threads of one
        server wait for its lock inside SQLite's busy handler, which sleeps in coarse steps
        and lets late arrivals win: under load some requests waited seconds. Queued on a
        lock here, they go in turn. Other engines write concurrently and skip it.
        """
        return self._write_lock if self._write_lock is not None else nullcontext()


def get_context(conn: HTTPConnection) -> AppContext:
    """FastAPI dependency: the app's context (works for HTTP and WebSocket routes)."""
    ctx: AppContext = conn.app.state.conveyor
    return ctx


@dataclass(frozen=True, slots=True)
class Urls:
    """Absolute URLs of a job's resources, from ``public_url`` or the request's base URL."""

    base: str

    def status(self, job_id: UUID) -> str:
        return f"{self.base}/jobs/{job_id}/status"

    def job(self, job_id: UUID) -> str:
        return f"{self.base}/jobs/{job_id}"

    def events(self, job_id: UUID) -> str:
        return f"{self.base}/jobs/{job_id}/events"

    def websocket(self, job_id: UUID) -> str:
        scheme, rest = self.base.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/jobs/{job_id}/ws"

    def result(self, job_id: UUID, name: str) -> str:
        return f"{self.base}/jobs/{job_id}/results/{quote(name, safe='')}"


def urls_for(conn: HTTPConnection) -> Urls:
    """FastAPI dependency: URL builder for this request."""
    ctx = get_context(conn)
    if ctx.settings.public_url:
        return Urls(ctx.settings.public_url.rstrip("/"))
    base = str(conn.base_url).rstrip("/")
    if conn.scope["type"] == "websocket":
        base = base.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    return Urls(base)
