"""Configuration: every setting is an env var ``CONVEYOR_<NAME>`` and a CLI flag ``--<name>``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_blobs_url", "default_database_url"]


def default_database_url() -> str:
    """``./conveyor.db`` in the current directory, as an absolute SQLite URL."""
    return f"sqlite:///{Path('conveyor.db').resolve()}"


def default_blobs_url() -> str:
    """``./conveyor-data/`` in the current directory."""
    return Path("conveyor-data").resolve().as_uri()


class Settings(BaseSettings):
    """Conveyor's settings, read from the environment (``CONVEYOR_*``) and CLI flags."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    database_url: str = Field(
        default_factory=default_database_url,
        description="sqlite:///path.db (embedded default ./conveyor.db) or postgresql://...",
    )
    blobs_url: str = Field(
        default_factory=default_blobs_url,
        description="file:///dir (default ./conveyor-data) or s3://bucket/prefix",
    )
    host: str = Field("127.0.0.1", description="address the API server binds")
    port: int = Field(8000, ge=0, le=65535, description="port the API server binds")
    lease_seconds: float = Field(30.0, gt=0, description="task lease; renewed by heartbeats")
    max_lease_losses: int = Field(
        5, ge=1, description="a task that loses its lease more often than this is failed"
    )
    shutdown_grace_seconds: float = Field(
        30.0, ge=0, description="on SIGTERM, how long a runner lets its current task finish"
    )


def env_database_url() -> str:
    """The database URL from ``CONVEYOR_DATABASE_URL`` or the embedded default."""
    return os.environ.get("CONVEYOR_DATABASE_URL") or default_database_url()


def env_blobs_url() -> str:
    """The blob store URL from ``CONVEYOR_BLOBS_URL`` or the embedded default."""
    return os.environ.get("CONVEYOR_BLOBS_URL") or default_blobs_url()
