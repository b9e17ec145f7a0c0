"""PostgreSQL fixtures, and the ``--store`` option choosing the engines of store tests.

One throwaway cluster per session (``conveyor.testing.PostgresCluster``: initdb
into a temp dir, a free port, durability off), a migrated template database, and
a fresh copy of it per test. Nothing needs to run beforehand; as root (CI) the
cluster runs as an unprivileged OS user. Without PostgreSQL binaries the
postgres variants skip, unless ``--store=postgres`` or ``CI`` asks for them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from conveyor.testing import PostgresCluster, PostgresUnavailable

STORE_KINDS = ("sqlite", "postgres")
TEMPLATE_DB = "conveyor_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=[*STORE_KINDS, "all"],
        default="all",
        help="store engines for tests taking the store_kind fixture (default: all)",
    )


def selected_store_kinds(config: pytest.Config) -> list[str]:
    choice = config.getoption("--store")
    return list(STORE_KINDS) if choice == "all" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``store_kind`` over the engines ``--store`` selects."""
    if "store_kind" in metafunc.fixturenames:
        metafunc.parametrize(
            "store_kind",
            [
                pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgres" else [])
                for kind in selected_store_kinds(metafunc.config)
            ],
        )


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresCluster]:
    """The session's throwaway cluster: ``.host``, ``.port``, ``.admin_url``, ``.url(db)``,
    ``.tcp_url(db)``, ``.restart()``; with a migrated template database."""
    from conveyor.store.postgres import upgrade

    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") or request.config.getoption("--store") == "postgres":
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        upgrade(cluster.create_database(TEMPLATE_DB))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def make_postgres_db(postgres_server: PostgresCluster) -> Iterator[Callable[..., str]]:
    """``make_postgres_db(migrated=True)``: a new database's URL, dropped after the test."""
    created: list[str] = []

    def make(*, migrated: bool = True) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        created.append(name)
        return postgres_server.create_database(name, template=TEMPLATE_DB if migrated else None)

    yield make
    for name in created:
        try:
            postgres_server.drop_database(name)
        except Exception:  # the cluster may be mid-restart in a resilience test
            pass


@pytest.fixture
def postgres_url(make_postgres_db: Callable[..., str]) -> str:
    """A fresh database with the current schema, over the cluster's unix socket."""
    return str(make_postgres_db())
