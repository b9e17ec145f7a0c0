"""Durable state: one Store protocol, engines for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from conveyor.store.base import Store
from conveyor.store.records import (
    CacheEntry,
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewJob,
    NewResult,
    NewTask,
    ProgressFlush,
    ProgressValue,
)

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
    "Store",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open the store a database URL names: ``sqlite:///path.db`` or ``postgresql://...``."""
    if url.startswith("sqlite:"):
        from conveyor.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from conveyor.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db or postgresql://..."
    )
