"""The HTTP API's store operations (tenants, API keys, timings) on each engine."""

from __future__ import annotations

import uuid

import pytest

from conveyor.store import Store
from conveyor.store._api import ApiKeyNotFoundError

from .support import claim_one, run_all, submit


def test_tenants_and_their_webhook_secrets(store: Store) -> None:
    secret = store.ensure_tenant("acme")
    assert secret.startswith("whsec_")
    assert store.ensure_tenant("acme") == secret
    assert store.get_tenant_secret("acme") == secret
    other = store.get_tenant_secret("new-tenant")  # created on first use
    assert other.startswith("whsec_") and other != secret
    with pytest.raises(ValueError):
        store.ensure_tenant("not a tenant name!")


def test_api_key_lifecycle(store: Store) -> None:
    assert store.count_api_keys() == 0
    key, token = store.create_api_key("acme")
    assert key.tenant == "acme" and token.startswith(key.prefix)
    assert store.authenticate_api_key(token) == "acme"
    assert store.authenticate_api_key(token + "x") is None
    assert store.authenticate_api_key("nonsense") is None
    other, _ = store.create_api_key("beta")
    assert [k.id for k in store.list_api_keys()] == [key.id, other.id]
    assert [k.id for k in store.list_api_keys("beta")] == [other.id]
    assert store.count_api_keys() == 2
    revoked = store.revoke_api_key(key.id)
    assert revoked.revoked_at is not None
    assert store.authenticate_api_key(token) is None
    assert [k.id for k in store.list_api_keys()] == [other.id]
    assert [k.id for k in store.list_api_keys(include_revoked=True)] == [key.id, other.id]
    with pytest.raises(ApiKeyNotFoundError):
        store.revoke_api_key(key.id)
    assert store.count_api_keys() == 1


def test_job_cursor_is_exact(store: Store) -> None:
    jobs = [submit(store, f"j{i}") for i in range(7)]
    seen: list[uuid.UUID] = []
    before = None
    while page := store.query_jobs(limit=3, before=before):
        seen += [j.id for j in page]
        before = store.job_cursor(page[-1].id)
    assert sorted(map(str, seen)) == sorted(str(j.id) for j in jobs)
    assert len(seen) == 7


def test_timings(store: Store) -> None:
    stats = store.timing_stats("render")
    assert stats.avg_task_seconds is None and stats.avg_job_seconds is None
    assert stats.busy_workers == 0
    submit(store, "render")
    submit(store, "render")
    run_all(store)
    submit(store, "render")
    claim_one(store)
    stats = store.timing_stats("render")
    assert stats.avg_task_seconds is not None and stats.avg_task_seconds >= 0
    assert stats.avg_job_seconds is not None and stats.avg_job_seconds >= 0
    assert stats.busy_workers == 1
    durations = store.recent_task_durations()
    assert len(durations) == 2 and all(seconds >= 0 for _, seconds in durations)
