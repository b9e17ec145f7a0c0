"""Load named SQL blocks (``-- name: xxx``) and versioned migrations from ``sql/<dialect>/``.

Keeping SQL in files lets both engines be read side by side, and a test checks
that every dialect defines the same query names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Migration", "load_migrations", "load_queries"]

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def parse_queries(text: str) -> dict[str, str]:
    """Split a file of ``-- name: x`` blocks into {name: sql}."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";")
    return queries


@cache
def load_queries(dialect: str) -> dict[str, str]:
    """All named queries of a dialect (``sqlite`` or ``postgres``)."""
    root = resources.files("conveyor.store") / "sql" / dialect
    text = "\n".join(
        f.read_text()
        for f in sorted(root.iterdir(), key=lambda p: p.name)
        if f.name.endswith(".sql")
    )
    return parse_queries(text)


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """The dialect's migrations in version order."""
    root = resources.files("conveyor.store") / "sql" / dialect / "migrations"
    migrations = []
    for f in root.iterdir():
        match = _MIGRATION.match(f.name)
        if match:
            migrations.append(Migration(int(match.group(1)), f.name, f.read_text()))
    migrations.sort(key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise RuntimeError(f"{dialect} migrations skip version {expected}")
    return tuple(migrations)
