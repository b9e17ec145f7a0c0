"""What only the PostgreSQL engine has: schema checks, migrations, retries, restarts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from conveyor.examples import Sleep
from conveyor.exceptions import SchemaVersionError, StoreError
from conveyor.models import JobState
from conveyor.store import open_store
from conveyor.store._sql import load_migrations
from conveyor.store.postgres import PostgresStore, upgrade
from conveyor.testing import PostgresCluster
from conveyor.workflows import Client

from .support import KIND, submit

LATEST = load_migrations("postgres")[-1].version

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_selected(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--store") == "sqlite":
        pytest.skip("--store=sqlite")


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    yield store
    store.close()


def test_open_store_routes_postgres_urls(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = open_store(url)
        try:
            assert isinstance(store, PostgresStore)
        finally:
            store.close()


def test_an_unmigrated_database_is_refused(make_postgres_db: Callable[..., str]) -> None:
    url = make_postgres_db(migrated=False)
    with pytest.raises(SchemaVersionError, match="conveyor db upgrade"):
        PostgresStore(url)
    assert upgrade(url) == (0, LATEST)
    PostgresStore(url).close()


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO conveyor_schema (version) VALUES (99)")
    with pytest.raises(SchemaVersionError, match="newer"):
        PostgresStore(postgres_url)
    with pytest.raises(SchemaVersionError, match="newer"):
        upgrade(postgres_url)


def test_concurrent_upgrades_take_turns(make_postgres_db: Callable[..., str]) -> None:
    url = make_postgres_db(migrated=False)
    results: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda: results.append(upgrade(url))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [(0, LATEST)] + [(LATEST, LATEST)] * 3
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM conveyor_schema ORDER BY 1")]
    assert versions == list(range(1, LATEST + 1))


def test_pool_size_setting(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_DB_POOL_SIZE", "3")
    store = PostgresStore(postgres_url)
    try:
        assert store.db.pool.max_size == 3
    finally:
        store.close()


def test_unreachable_database_is_a_store_error() -> None:
    start = time.monotonic()
    with pytest.raises(StoreError, match="cannot use database"):
        PostgresStore("postgresql://nobody@127.0.0.1:9/none", connect_timeout=1)
    assert time.monotonic() - start < 15


def test_claims_skip_rows_locked_by_others(pg: PostgresStore, postgres_url: str) -> None:
    first, second = submit(pg), submit(pg)
    with psycopg.connect(postgres_url) as conn:  # another claimer, mid-transaction
        conn.execute(
            "SELECT seq FROM tasks WHERE job_id = %s FOR UPDATE", (str(first.id),)
        ).fetchall()
        start = time.monotonic()
        claimed = pg.claim("w", [KIND], limit=2)
        assert time.monotonic() - start < 2
        assert [ct.job_id for ct in claimed] == [second.id]
        conn.rollback()
    assert [ct.job_id for ct in pg.claim("w", [KIND])] == [first.id]


def test_operations_survive_a_restart(pg: PostgresStore, postgres_server: PostgresCluster) -> None:
    job = submit(pg)
    pg.wait_for_work(0.01)
    assert pg._notifications.connected.wait(10)
    postgres_server.restart(down_seconds=0.5)
    # The pool's connections all died: the next operations reconnect and run again.
    assert pg.get_job(job.id).state is JobState.QUEUED
    other = submit(pg)
    assert [ct.job_id for ct in pg.claim("w", [KIND], limit=5)] == [job.id, other.id]
    assert pg._notifications.connected.wait(15)  # the listener reconnected too


def test_a_long_outage_is_reported(postgres_url: str, postgres_server: PostgresCluster) -> None:
    store = PostgresStore(postgres_url, retry_seconds=1.0, connect_timeout=1)
    job = submit(store)
    postgres_server.stop(remove=False)
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match="still failing"):
            store.get_job(job.id)
        assert time.monotonic() - start < 10
    finally:
        postgres_server.start()
    _once_back(lambda: store.get_job(job.id).state is JobState.QUEUED)
    store.close()


def test_ping_answers_at_once_during_an_outage(
    postgres_url: str, postgres_server: PostgresCluster
) -> None:
    """Other operations retry for retry_seconds (30 s); a health check must not."""
    store = PostgresStore(postgres_url, connect_timeout=1)
    store.ping()
    postgres_server.stop(remove=False)
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match="not answering"):
            store.ping(timeout=1.0)
        assert time.monotonic() - start < 5
    finally:
        postgres_server.start()
    _once_back(lambda: store.ping(timeout=1.0) is None)
    store.close()


def _once_back(check: Callable[[], bool]) -> None:
    """Run ``check`` until the database answers (the pool reconnects by itself once the
    server is back, within 30 s) and assert what it returns."""
    deadline = time.monotonic() + 30
    while True:
        try:
            assert check()
            return
        except StoreError:
            assert time.monotonic() < deadline


def test_a_runner_survives_a_restart(
    postgres_url: str, postgres_server: PostgresCluster, tmp_path: Path
) -> None:
    client = Client(postgres_url, blobs_url=(tmp_path / "blobs").as_uri())
    jobs = [client.jobs().submit(f"s{i}", Sleep(seconds=0.03, steps=3)) for i in range(30)]
    runner = client.runner(tasks=[Sleep], poll_interval=0.1, lease_seconds=5)
    thread = threading.Thread(target=runner.run_all)
    thread.start()
    try:
        time.sleep(0.4)
        postgres_server.restart(down_seconds=0.5)
    finally:
        thread.join(120)
    for job in jobs:
        got = client.jobs().find(job.id)
        assert got.state is JobState.COMPLETED
        assert [(p.label, p.total, p.done) for p in got.progress] == [("sleep", 3, 3)]
        states = [e.data["state"] for e in client.store.events_after(job.id) if e.type == "state"]
        assert states == ["QUEUED", "STARTED", "COMPLETED"]
    client.close()


def test_a_create_job_run_twice_creates_one_job(pg: PostgresStore) -> None:
    """What a retry after a lost COMMIT acknowledgement does: same job id, same root task."""
    from conveyor.exceptions import ConflictError
    from conveyor.store import NewJob

    from .support import task

    new = NewJob(id=uuid.uuid4(), name="once", root=task())
    first = pg.create_job(new)
    assert pg.create_job(new).id == first.id
    assert len(pg.query_jobs()) == 1
    with pytest.raises(ConflictError):  # a different submission reusing the id
        pg.create_job(NewJob(id=new.id, name="once", root=task()))
