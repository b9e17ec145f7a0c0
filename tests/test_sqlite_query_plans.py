"""No SQLite query reads a whole table where a job's or a task's row would do, or a list
parameter once per element of another.

A query that scans ``jobs`` or ``tasks`` costs nothing in a test database and grows with
every job ever kept: a lease renewal that read the whole jobs table for each renewed task
took 1.2 ms with 3,000 jobs, and would take 40 ms with 100,000. SQLite's plans do not depend
on table sizes here (no ``ANALYZE``), so an empty migrated database shows them; each query's
``EXPLAIN QUERY PLAN`` must search by an index, except the scans listed below, which are
bounded by design.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from conveyor.store._sql import load_queries
from conveyor.store.sqlite import SQLiteConnector

#: (query, table) scans that stop early or read a small table, and why that is fine.
BOUNDED_SCANS = {
    ("list_api_keys", "api_keys"): "a tenant's keys: a handful of rows",
    ("count_active_api_keys", "api_keys"): "a handful of rows",
    ("avg_task_seconds", "tasks"): "newest first by rowid, stops after LIMIT finished tasks",
    ("recent_task_durations", "tasks"): "newest first by rowid, stops after LIMIT",
    ("busy_workers", "tasks"): "reads only running tasks through the tasks_leased index",
    ("query_jobs", "jobs"): "newest first through jobs_submitted, stops after LIMIT",
    ("count_jobs_by_state", "jobs"): "the covering jobs_state index: the job count by state",
    ("event_retention_boundary", "events"): "oldest first by id, stops at the first kept",
}
_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.IGNORECASE)
_KEYWORDS = {"where", "set", "on", "join", "left", "order", "group", "limit", "select", "values"}


def _tables_by_alias(sql: str, tables: set[str]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for table, alias in _TABLE.findall(sql):
        if table in tables:
            aliases[table] = table
            if alias and alias.lower() not in _KEYWORDS:
                aliases[alias] = table
    return aliases


def _code(name: str) -> str:
    """Query ``name`` without its comments."""
    sql = load_queries("sqlite")[name]
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def _plan(database: sqlite3.Connection, code: str) -> list[tuple[int, int, int, str]]:
    """``EXPLAIN QUERY PLAN`` rows (id, parent, unused, step), every parameter NULL."""
    params = dict.fromkeys(re.findall(r"(?<![:\w]):(\w+)", re.sub(r"'[^']*'", "''", code)))
    return list(database.execute(f"EXPLAIN QUERY PLAN {code}", params))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.db"
    SQLiteConnector(f"sqlite:///{path}")  # migrated
    return sqlite3.connect(path)


@pytest.mark.parametrize("name", sorted(load_queries("sqlite")))
def test_query_reads_rows_by_index(database: sqlite3.Connection, name: str) -> None:
    code = _code(name)
    tables = {r[0] for r in database.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    aliases = _tables_by_alias(code, tables)
    plan = [row[3] for row in _plan(database, code)]
    scans = []
    for step in plan:
        match = re.match(r"SCAN (\w+)", step)
        if match and match.group(1) in aliases:
            table = aliases[match.group(1)]
            if (name, table) not in BOUNDED_SCANS:
                scans.append(step)
    assert not scans, f"{name} scans a table: {scans}\nplan: {plan}"


def test_bounded_scans_are_still_there(database: sqlite3.Connection) -> None:
    """Every allowed scan names a query that exists (a renamed query drops its exemption)."""
    queries = load_queries("sqlite")
    assert {name for name, _ in BOUNDED_SCANS} <= set(queries)


@pytest.mark.parametrize("name", sorted(load_queries("sqlite")))
def test_no_list_is_read_once_per_element_of_another(
    database: sqlite3.Connection, name: str
) -> None:
    """Two list parameters joined as two ``json_each`` sources in one loop nest: the inner
    one is parsed and scanned again for each element of the outer, so the statement grows
    with the square of the list (a commit of 64 tasks paid 0.43 ms for pairing ids with
    attempts that way, 0.09 ms by position with ``json_extract``)."""
    lists_by_loop: dict[int, list[str]] = {}
    for _, parent, _, step in _plan(database, _code(name)):
        if re.match(r"SCAN \w+ VIRTUAL TABLE", step):
            lists_by_loop.setdefault(parent, []).append(step)
    nested = [steps for steps in lists_by_loop.values() if len(steps) > 1]
    assert not nested, f"{name} reads a list once per element of another: {nested}"
