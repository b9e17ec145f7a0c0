"""``conveyor db upgrade|status|cleanup`` on each engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conveyor.cli import app
from conveyor.models import JobState
from conveyor.store import open_store
from conveyor.store._sql import load_migrations
from conveyor.workflows import Client

from .support import run_all, submit


@pytest.fixture
def fresh_url(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without any Conveyor schema yet."""
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("make_postgres_db")(migrated=False))


def _db(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["db", *args])
    return result.exit_code, result.output


def test_status_then_upgrade(fresh_url: str) -> None:
    code, out = _db("status", "--database-url", fresh_url)
    assert code == 1 and "schema version 0" in out and "conveyor db upgrade" in out
    code, out = _db("upgrade", "--database-url", fresh_url)
    latest = load_migrations("sqlite")[-1].version  # both dialects: test_sql_dialects
    assert code == 0 and f"0 -> {latest}" in out
    code, out = _db("upgrade", "--database-url", fresh_url)
    assert code == 0 and "up to date" in out
    code, out = _db("status", "--database-url", fresh_url)
    assert code == 0 and f"schema version {latest}" in out and "up to date" in out
    open_store(fresh_url).close()


def test_urls_from_the_environment(fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", fresh_url)
    assert _db("upgrade")[0] == 0
    assert _db("status")[0] == 0


def test_cleanup_deletes_old_jobs_and_their_blobs(store_url: str, tmp_path: Path) -> None:
    blobs_url = (tmp_path / "blobs").as_uri()
    client = Client(store_url, blobs_url=blobs_url)
    old = submit(client.store)
    client.blobs.put(f"jobs/{old.id}/results/r.txt", b"x")
    run_all(client.store)
    keep = submit(client.store)
    cleanup = (
        *("cleanup", "--database-url", store_url, "--blobs-url", blobs_url),
        *("--job-retention-seconds", "0.2", "--event-retention-seconds", "0"),
    )
    code, out = _db(*cleanup)
    assert code == 0 and "deleted 0 finished jobs" in out
    time.sleep(0.3)
    code, out = _db(*cleanup)
    assert code == 0, out
    assert "deleted 1 finished jobs (1 blobs) and 0 events" in out
    assert [j.id for j in client.jobs().query()] == [keep.id]
    assert client.jobs().find(keep.id).state is JobState.QUEUED
    assert not client.blobs.exists(f"jobs/{old.id}/results/r.txt")
    client.close()
