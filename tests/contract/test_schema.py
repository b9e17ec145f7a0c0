"""Both engines' migrated schemas have the same tables and columns (types may differ)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from conveyor.store.sqlite import SQLiteStore

pytestmark = pytest.mark.postgres


def _sqlite_columns(path: Path) -> dict[str, set[str]]:
    SQLiteStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}


def _postgres_columns(url: str) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    with psycopg.connect(url) as conn:
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ):
            columns.setdefault(table, set()).add(column)
    return columns


def test_same_tables_and_columns(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if request.config.getoption("--store") != "all":
        pytest.skip("compares both engines")
    postgres_url = request.getfixturevalue("postgres_url")
    assert _postgres_columns(postgres_url) == _sqlite_columns(tmp_path / "s.db")
