"""Schema versions of any Conveyor database: what ``conveyor db upgrade|status`` report.

PostgreSQL is migrated deliberately (``upgrade``) and checked when a store opens;
the embedded SQLite file migrates itself whenever it is opened, so ``upgrade``
on SQLite just opens it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from conveyor.exceptions import StoreError
from conveyor.store._sql import load_migrations

__all__ = ["SchemaStatus", "schema_status", "upgrade"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """The schema version a database has and the one this Conveyor needs."""

    current: int
    latest: int

    @property
    def up_to_date(self) -> bool:
        return self.current == self.latest


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql:", "postgres:"))


def schema_status(url: str) -> SchemaStatus:
    """The database's schema version (0: no Conveyor schema yet), without changing it."""
    if _is_postgres(url):
        import psycopg

        from conveyor.store._pg_schema import latest_version, redact, schema_version

        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                return SchemaStatus(schema_version(conn), latest_version())
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the schema of {redact(url)}: {exc}") from exc
    from conveyor.store.sqlite import sqlite_path

    latest = load_migrations("sqlite")[-1].version
    path = sqlite_path(url)
    if path == ":memory:" or not Path(path).exists():
        return SchemaStatus(0, latest)
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'conveyor_schema'"
            ).fetchone():
                return SchemaStatus(0, latest)
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM conveyor_schema").fetchone()
            return SchemaStatus(int(row[0]), latest)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the schema of {path}: {exc}") from exc


def upgrade(url: str) -> tuple[int, int]:
    """Apply missing migrations; return (version before, version after)."""
    if _is_postgres(url):
        from conveyor.store._pg_schema import upgrade as upgrade_postgres

        return upgrade_postgres(url)
    from conveyor.store.sqlite import SQLiteStore

    before = schema_status(url).current
    SQLiteStore(url).close()  # opening applies the missing migrations
    return before, schema_status(url).current
