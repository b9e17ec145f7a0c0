"""Plain records passed between the runner/client and a store engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

__all__ = [
    "CacheEntry",
    "ClaimedTask",
    "Completion",
    "LeaseStatus",
    "NewJob",
    "NewResult",
    "NewTask",
    "ProgressFlush",
    "ProgressValue",
]


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to insert. ``depends_on`` holds indexes of earlier tasks in the same batch."""

    id: UUID
    identifier: str
    version: str
    input_json: str
    max_retries: int = 0
    optional: bool = False
    depends_on: tuple[int, ...] = ()
    batch_key: str | None = None

    @property
    def kind(self) -> str:
        return f"{self.identifier}@{self.version}"


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to create, with its root task."""

    id: UUID
    name: str
    root: NewTask
    tenant: str = "default"
    callback_url: str | None = None
    webhook_events: list[str] | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewResult:
    """A result blob written by an attempt; recorded when the attempt commits."""

    name: str
    content_type: str
    size: int
    blob_key: str


@dataclass(frozen=True, slots=True)
class ProgressValue:
    """Absolute done/total of one label for one attempt (absolute: flushes are idempotent)."""

    label: str | None
    total: int
    done: int


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task leased to a runner for one attempt."""

    id: UUID
    job_id: UUID
    identifier: str
    version: str
    input_json: str
    attempt: int
    failures: int
    max_retries: int
    optional: bool
    lease_expires_at: float
    batch_key: str | None = None

    @property
    def kind(self) -> str:
        return f"{self.identifier}@{self.version}"


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """What a heartbeat learned: attempts that lost their lease, and jobs cancelled meanwhile."""

    lost: frozenset[UUID] = field(default_factory=frozenset)
    cancelled: frozenset[UUID] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ProgressFlush:
    """A running attempt's live progress (absolute values) and the events it published."""

    task_id: UUID
    attempt: int
    progress: tuple[ProgressValue, ...] = ()
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A job cache entry as stored: its bytes in the row (``value``), or in a blob.

    ``blob_key`` is where the bytes are when they are not in the row. ``shared_key`` names
    a result blob the writing attempt saved with the same bytes: only a hint for sharing
    that blob (the blob store checks the bytes first), since a later result may replace it.
    """

    key: str
    size: int
    value: bytes | None = None
    blob_key: str | None = None
    shared_key: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful attempt to commit: its final progress, subtasks, results and job cache
    writes."""

    task_id: UUID
    attempt: int
    progress: tuple[ProgressValue, ...] = ()
    subtasks: tuple[NewTask, ...] = ()
    results: tuple[NewResult, ...] = ()
    cache: tuple[CacheEntry, ...] = ()
