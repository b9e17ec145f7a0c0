"""Core fixtures: a fresh embedded database and client per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.workflows import Client

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite URL for a fresh database file in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'conveyor.db'}"


@pytest.fixture
def client(db_url: str) -> Iterator[Client]:
    c = Client(db_url)
    yield c
    c.close()


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: the repo's src and tests on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(SRC), str(Path(__file__).resolve().parents[1])]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("CONVEYOR_DATABASE_URL", None)
    env.pop("CONVEYOR_BLOBS_URL", None)
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
