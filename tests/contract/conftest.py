"""The store conformance suite runs every test on each engine ``--store`` selects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Client
from conveyor.store import Store, open_store


@pytest.fixture
def store_url(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database of the engine under test."""
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_stores(store_url: str) -> Iterator[Callable[[], Store]]:
    """Open more stores on the same database (another process's view); closed after."""
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(open_store(store_url))
        return opened[-1]

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(open_stores: Callable[[], Store]) -> Store:
    return open_stores()


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[Client]:
    """The public client on the engine under test, with blobs in the test's temp dir."""
    c = Client(store_url, blobs_url=(tmp_path / "blobs").as_uri())
    yield c
    c.close()
