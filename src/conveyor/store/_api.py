"""Store operations of the HTTP API: tenants, API keys, and job timings for ETAs and metrics.

A mixin of ``SqlStore`` so both engines share it. API keys are high-entropy random
tokens, so a plain SHA-256 is enough to store them (no slow password hash needed);
the token itself is shown once, when it is created, and never stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from conveyor.exceptions import ConveyorError, JobNotFoundError
from conveyor.store._connector import Connector, Row

__all__ = [
    "API_KEY_PREFIX",
    "ApiKey",
    "ApiKeyNotFoundError",
    "ApiStoreMixin",
    "TimingStats",
    "hash_api_key",
    "valid_tenant_name",
]

#: Every API key starts with this, so leaked keys are easy to recognise (secret scanners).
API_KEY_PREFIX = "cvk_"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: ``last_used_at`` is refreshed at most this often, so authenticating stays a read.
_TOUCH_EVERY = 60.0
_HISTORY = 50


class ApiKeyNotFoundError(ConveyorError, LookupError):
    """No API key has this id (or this value)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed: never the secret itself, only its recognisable prefix."""

    id: str
    tenant: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimingStats:
    """Recent durations the API estimates ETAs from (None: no history yet)."""

    avg_task_seconds: float | None
    avg_job_seconds: float | None
    busy_workers: int


def hash_api_key(token: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(token.encode()).hexdigest()


def valid_tenant_name(name: str) -> bool:
    """Tenant names are short identifiers (letters, digits, ``_.-``)."""
    return bool(_TENANT.match(name))


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _api_key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        prefix=row["prefix"],
        created_at=_ts(row["created_at"]),  # type: ignore[arg-type]
        revoked_at=_ts(row["revoked_at"]),
        last_used_at=_ts(row["last_used_at"]),
    )


def _new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ApiStoreMixin:
    """Tenants, API keys and timing statistics; mixed into ``SqlStore``."""

    db: Connector

    # -- tenants -----------------------------------------------------------------------------
    def ensure_tenant(self, tenant: str) -> str:
        """Create the tenant (with its webhook secret) if missing; return its webhook secret."""
        if not valid_tenant_name(tenant):
            raise ValueError(
                f"invalid tenant name {tenant!r}: use up to 64 letters, digits, '_', '.', '-'"
            )
        with self.db.transaction() as tx:
            tx.run("insert_tenant", name=tenant, secret=_new_webhook_secret(), now=time.time())
            row = tx.one("get_tenant", name=tenant)
            assert row is not None
            return str(row["webhook_secret"])

    def get_tenant_secret(self, tenant: str) -> str:
        """The tenant's ``whsec_`` webhook signing secret, creating the tenant on first use."""
        with self.db.transaction(write=False) as tx:
            row = tx.one("get_tenant", name=tenant)
        if row is not None:
            return str(row["webhook_secret"])
        return self.ensure_tenant(tenant)

    # -- API keys ----------------------------------------------------------------------------
    def create_api_key(self, tenant: str) -> tuple[ApiKey, str]:
        """Create a key for ``tenant`` (created if missing); return it and the secret token.

        The token is returned only here: the store keeps its hash.
        """
        self.ensure_tenant(tenant)
        token = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = f"key_{uuid.uuid4().hex[:16]}"
        now = time.time()
        with self.db.transaction() as tx:
            tx.run(
                "insert_api_key",
                id=key_id,
                tenant=tenant,
                key_hash=hash_api_key(token),
                prefix=token[: len(API_KEY_PREFIX) + 6],
                now=now,
            )
            row = tx.one("get_api_key", id=key_id, key_hash="")
            assert row is not None
            return _api_key(row), token

    def authenticate_api_key(self, token: str) -> str | None:
        """The tenant of an active key, or None for an unknown or revoked one."""
        if not token.startswith(API_KEY_PREFIX):
            return None
        with self.db.transaction(write=False) as tx:
            row = tx.one("find_api_key", key_hash=hash_api_key(token))
        if row is None:
            return None
        now = time.time()
        if row["last_used_at"] is None or row["last_used_at"] < now - _TOUCH_EVERY:
            with self.db.transaction() as tx:
                tx.run("touch_api_key", id=row["id"], now=now, stale=now - _TOUCH_EVERY)
        return str(row["tenant"])

    def list_api_keys(
        self, tenant: str | None = None, *, include_revoked: bool = False
    ) -> list[ApiKey]:
        """Keys oldest first, optionally of one tenant."""
        with self.db.transaction(write=False) as tx:
            rows = tx.all(
                "list_api_keys", tenant=tenant, include_revoked=1 if include_revoked else 0
            )
            return [_api_key(r) for r in rows]

    def revoke_api_key(self, key: str) -> ApiKey:
        """Revoke a key given its id (``key_...``) or its value (``cvk_...``).

        Raises ApiKeyNotFoundError if no active key matches.
        """
        with self.db.transaction() as tx:
            row = tx.one("revoke_api_key", id=key, key_hash=hash_api_key(key), now=time.time())
            if row is None:
                raise ApiKeyNotFoundError(f"no active API key {key!r}")
            return _api_key(row)

    def count_api_keys(self) -> int:
        """How many keys are active (none: a loopback server may run in dev mode)."""
        with self.db.transaction(write=False) as tx:
            row = tx.one("count_active_api_keys")
            return int(row["n"]) if row else 0

    # -- listings ----------------------------------------------------------------------------
    def job_cursor(self, job_id: UUID) -> tuple[float, UUID]:
        """The exact (submitted_at, id) key ``query_jobs(before=...)`` pages by.

        ``Job.submitted_at`` is a datetime (microseconds), coarser than the stored time, so a
        cursor built from it could repeat or skip a job; this one cannot.
        """
        with self.db.transaction(write=False) as tx:
            row = tx.one("job_submitted_at", id=str(job_id))
        if row is None:
            raise JobNotFoundError(f"job {job_id} not found")
        return float(row["submitted_at"]), job_id

    # -- timings -----------------------------------------------------------------------------
    def timing_stats(self, name: str) -> TimingStats:
        """Mean duration of recent tasks and of recent completed jobs named ``name``, and how
        many workers are busy: what the API estimates a job's ETA from."""
        with self.db.transaction(write=False) as tx:
            task = tx.one("avg_task_seconds", limit=_HISTORY * 4)
            job = tx.one("avg_job_seconds", name=name, limit=_HISTORY)
            busy = tx.one("busy_workers")
            return TimingStats(
                avg_task_seconds=_float(task["seconds"]) if task else None,
                avg_job_seconds=_float(job["seconds"]) if job else None,
                busy_workers=int(busy["n"]) if busy else 0,
            )

    def recent_task_durations(self, limit: int = 1000) -> list[tuple[str, float]]:
        """(identifier, seconds of the successful attempt) of recently completed tasks."""
        with self.db.transaction(write=False) as tx:
            rows = tx.all("recent_task_durations", limit=limit)
            return [(r["identifier"], float(r["seconds"])) for r in rows]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
