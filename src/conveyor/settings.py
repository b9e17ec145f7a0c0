"""Configuration: every setting is an env var ``CONVEYOR_<NAME>``.

The commands that use a setting also take it as a flag ``--<name>`` (``--database-url``,
``--host``, ``--lease-seconds``...); docs/deploy.md lists which command takes which.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    progress_interval_seconds: float = Field(
        0.1,
        gt=0,
        description="a running task's live progress is written at most this often (the first "
        "update after a quiet spell at once): 10 a second, the rate progress bars redraw at; "
        "longer spares the database and the CPU",
    )

    # -- PostgreSQL, S3 and retention (store/postgres.py, blobs/s3.py, store/_retention.py) --
    db_pool_size: int = Field(
        10, ge=1, description="PostgreSQL connections per process (plus one listener)"
    )
    event_retention_seconds: float = Field(
        7 * 86400.0, ge=0, description="`conveyor db cleanup` deletes older events; 0 keeps all"
    )
    job_retention_seconds: float = Field(
        30 * 86400.0,
        ge=0,
        description="`conveyor db cleanup` deletes jobs finished longer ago (with their "
        "tasks, events and results); 0 keeps all",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3-compatible endpoint for s3:// blob URLs (MinIO, moto, R2...); "
        "default: AWS_ENDPOINT_URL or AWS itself",
    )

    # -- webhooks (conveyor.notify) ---------------------------------------------------------
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host names, IPs or CIDRs exempt from the SSRF guard on callback URLs "
        "(comma-separated or a JSON list), e.g. 127.0.0.1,10.0.0.0/8,hooks.internal",
    )
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5, 30, 120, 600, 1800, 7200, 18000, 36000],
        description="seconds to wait before each retry of a failed delivery (comma-separated); "
        "a message gets len(schedule) + 1 attempts",
    )
    webhook_retry_jitter: float = Field(
        0.2, ge=0, le=1, description="each retry delay is scaled by a random factor 1 +/- this"
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="cap on one delivery attempt: DNS, connect, send and response"
    )
    webhook_max_response_bytes: int = Field(
        64 * 1024, ge=0, description="the dispatcher stops reading a response after this many bytes"
    )
    webhook_poll_interval: float = Field(
        1.0, gt=0, description="how often an idle dispatcher looks for due outbox messages"
    )
    webhook_concurrency: int = Field(
        16, ge=1, description="deliveries one dispatcher keeps in flight at once"
    )

    @field_validator("webhook_allowed_hosts", "webhook_retry_schedule", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept ``a,b,c`` as well as a JSON list from the environment or a CLI flag."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must be non-negative")
        return value

    # -- HTTP API (conveyor serve) ---------------------------------------------------------
    api_keys_required: bool | None = Field(
        None,
        description="require an API key on every request; unset (auto): required unless the "
        "server binds a loopback address and no API key exists yet (dev mode)",
    )
    public_url: str | None = Field(
        None,
        description="base URL clients reach the API at (behind a proxy); default: the request's",
    )
    auth_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="how long an API server trusts a key it accepted before looking it up "
        "again (a revoked key is refused within this time; 0: look up every request)",
    )
    tasks: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["conveyor.examples", "conveyor.diffusion.tasks"],
        description="modules whose Task classes the API accepts (comma-separated or JSON list)",
    )
    notifier: bool = Field(
        True, description="run the webhook dispatcher inside the API server process"
    )
    event_poll_interval: float = Field(
        0.02, gt=0, le=5, description="how often the API's event hub polls the event log"
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, description="idle time after which an event stream sends a keep-alive"
    )
    sse_max_seconds: float = Field(
        600.0,
        gt=0,
        description="an event stream ends after this long; clients resume from "
        "their Last-Event-ID (recycles long-lived connections across servers)",
    )
    inline_result_max_bytes: int = Field(
        65536, ge=0, description="JSON results up to this size are inlined in job status"
    )
    poll_after_seconds: int = Field(
        1, ge=0, description="Retry-After the API suggests to clients polling a job's status"
    )

    @field_validator("tasks", mode="before")
    @classmethod
    def _split_tasks(cls, value: object) -> object:
        """Accept ``a,b`` as well as a JSON list from the environment."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def env_database_url() -> str:
    """The database URL from ``CONVEYOR_DATABASE_URL`` or the embedded default."""
    return os.environ.get("CONVEYOR_DATABASE_URL") or default_database_url()


def env_blobs_url() -> str:
    """The blob store URL from ``CONVEYOR_BLOBS_URL`` or the embedded default."""
    return os.environ.get("CONVEYOR_BLOBS_URL") or default_blobs_url()
