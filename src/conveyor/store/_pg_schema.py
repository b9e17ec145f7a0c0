"""PostgreSQL schema versions: apply migrations (``conveyor db upgrade``) and check them at start.

Unlike the embedded SQLite file, a shared PostgreSQL database is migrated
deliberately, once, by an operator: servers and workers of two Conveyor
versions must not fight over the schema. So opening a store only *checks* the
version, and refuses to run against an older or newer one.

The statements here are engine plumbing (the version table and the migration
lock), like the PRAGMAs of the SQLite engine; the schema itself lives in
``sql/postgres/migrations/NNNN_*.sql``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from conveyor.exceptions import SchemaVersionError, StoreError
from conveyor.store._sql import load_migrations

__all__ = ["check_schema", "latest_version", "redact", "schema_version", "upgrade"]

#: pg_advisory_xact_lock key serializing concurrent ``conveyor db upgrade`` runs.
_MIGRATION_LOCK = 7350212105846175042

_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS conveyor_schema (version integer NOT NULL)"
_CURRENT = "SELECT COALESCE(MAX(version), 0) FROM conveyor_schema"
_HAS_TABLE = "SELECT to_regclass('conveyor_schema') IS NOT NULL"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def latest_version() -> int:
    """The schema version this Conveyor's migrations produce."""
    return load_migrations("postgres")[-1].version


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The database's schema version; 0 for a database Conveyor never touched."""
    row = conn.execute(_HAS_TABLE).fetchone()
    if not row or not _first(row):
        return 0
    row = conn.execute(_CURRENT).fetchone()
    return int(_first(row)) if row else 0


def check_schema(conn: psycopg.Connection[Any], url: str) -> None:
    """Raise SchemaVersionError unless the database has exactly this Conveyor's schema."""
    current, latest = schema_version(conn), latest_version()
    if current < latest:
        raise SchemaVersionError(
            f"database {redact(url)} has schema version {current}, this Conveyor needs "
            f"{latest}: run `conveyor db upgrade --database-url <url>` first"
        )
    if current > latest:
        raise SchemaVersionError(
            f"database {redact(url)} has schema version {current}, newer than this "
            f"Conveyor's {latest}: upgrade Conveyor on this machine"
        )


def upgrade(url: str) -> tuple[int, int]:
    """Apply the missing migrations in one transaction; return (version before, after).

    An advisory lock makes concurrent upgrades (several servers started by one
    deploy) take turns: the second finds nothing left to do.
    """
    migrations = load_migrations("postgres")
    latest = migrations[-1].version
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(_VERSION_TABLE)
                current = schema_version(conn)
                if current > latest:
                    raise SchemaVersionError(
                        f"database {redact(url)} has schema version {current}, newer than "
                        f"this Conveyor's {latest}: upgrade Conveyor"
                    )
                for migration in migrations:
                    if migration.version > current:
                        conn.execute(migration.sql)
                        conn.execute(
                            "INSERT INTO conveyor_schema (version) VALUES (%s)",
                            (migration.version,),
                        )
            return current, max(current, latest)
    except psycopg.Error as exc:
        raise StoreError(f"could not upgrade {redact(url)}: {exc}") from exc


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
