"""The store's outbox operations: leases, fencing, ordering, the log, redelivery, secrets."""

from __future__ import annotations

import time
import uuid

import pytest

from conveyor.examples import EXAMPLE_TASKS, NoOp
from conveyor.exceptions import InvalidStateError, JobNotFoundError
from conveyor.store._outbox import AttemptOutcome, DeliveryNotFoundError, DeliveryStatus
from conveyor.workflows import Client

URL = "http://127.0.0.1:9/hook"
EVENTS = ["job.started", "job.completed"]


def _run_job(client: Client, events: list[str] | None = None) -> uuid.UUID:
    job = client.jobs().submit("w", NoOp(), callback_url=URL, webhook_events=events)
    client.runner(tasks=EXAMPLE_TASKS).run_all()
    return job.id


def test_state_changes_queue_messages_in_order(client: Client) -> None:
    job_id = _run_job(client, EVENTS)
    messages = client.store.list_webhook_messages(job_id)
    assert [m.event_type for m in messages] == EVENTS
    assert all(m.status is DeliveryStatus.PENDING and m.attempts == 0 for m in messages)
    assert all(m.id.startswith("msg_") and m.url == URL for m in messages)


def test_claim_leases_and_orders_per_job(client: Client) -> None:
    job_id = _run_job(client, EVENTS)
    store = client.store
    first = store.claim_webhooks("a", limit=10, lease_seconds=60)
    # job.completed waits until job.started is no longer pending
    assert [m.event_type for m in first] == ["job.started"]
    assert first[0].attempts == 1 and first[0].series_attempt == 1
    assert store.claim_webhooks("b", limit=10) == []  # leased to "a"
    store.record_webhook_attempt(first[0], AttemptOutcome(DeliveryStatus.DELIVERED, 200))
    second = store.claim_webhooks("b", limit=10)
    assert [m.event_type for m in second] == ["job.completed"]
    assert store.list_webhook_messages(job_id)[0].status is DeliveryStatus.DELIVERED


def test_expired_lease_is_reclaimed_and_fences_the_old_holder(client: Client) -> None:
    _run_job(client)
    store = client.store
    [stale] = store.claim_webhooks("a", lease_seconds=0.01)
    time.sleep(0.05)
    [fresh] = store.claim_webhooks("b", lease_seconds=60)
    assert (stale.id, stale.attempts, fresh.attempts) == (fresh.id, 1, 2)
    # the old holder's late outcome is logged but does not move the message
    assert not store.record_webhook_attempt(stale, AttemptOutcome(DeliveryStatus.DELIVERED, 200))
    assert store.record_webhook_attempt(
        fresh, AttemptOutcome(DeliveryStatus.RETRYING, 500, "HTTP 500", 1.0, time.time() + 60)
    )
    [message] = store.list_webhook_messages(fresh.job_id)
    assert message.status is DeliveryStatus.PENDING
    assert message.last_error == "HTTP 500"
    assert store.claim_webhooks("c") == []  # not due for a minute


def test_retrying_then_failed_is_logged(client: Client) -> None:
    job_id = _run_job(client)
    store = client.store
    [m] = store.claim_webhooks("a")
    store.record_webhook_attempt(
        m, AttemptOutcome(DeliveryStatus.RETRYING, None, "timed out", 10.0, time.time())
    )
    [m] = store.claim_webhooks("a")
    store.record_webhook_attempt(m, AttemptOutcome(DeliveryStatus.FAILED, 410, "HTTP 410", 2.0))
    log = store.list_webhook_deliveries(job_id)
    assert [(d.attempt, d.status, d.status_code, d.error) for d in log] == [
        (1, DeliveryStatus.RETRYING, None, "timed out"),
        (2, DeliveryStatus.FAILED, 410, "HTTP 410"),
    ]
    assert {d.message_id for d in log} == {m.id}
    assert all(d.event_type == "job.completed" and d.url == URL for d in log)
    assert store.list_webhook_messages(job_id)[0].status is DeliveryStatus.FAILED
    assert store.claim_webhooks("a") == []


def test_outcome_validation(client: Client) -> None:
    _run_job(client)
    [m] = client.store.claim_webhooks("a")
    with pytest.raises(ValueError, match="retry_at"):
        client.store.record_webhook_attempt(m, AttemptOutcome(DeliveryStatus.RETRYING))
    with pytest.raises(ValueError, match="not PENDING"):
        client.store.record_webhook_attempt(m, AttemptOutcome(DeliveryStatus.PENDING))


def test_redeliver_resets_the_same_message_with_a_fresh_budget(client: Client) -> None:
    job_id = _run_job(client)
    store = client.store
    [m] = store.claim_webhooks("a")
    store.record_webhook_attempt(m, AttemptOutcome(DeliveryStatus.DELIVERED, 200))
    [delivery] = store.list_webhook_deliveries(job_id)
    again = store.redeliver_webhook(job_id, delivery.id)
    assert (again.id, again.status, again.attempts_base) == (m.id, DeliveryStatus.PENDING, 1)
    [claimed] = store.claim_webhooks("a")
    assert (claimed.id, claimed.attempts, claimed.series_attempt) == (m.id, 2, 1)
    # while that attempt is in flight, redelivery is refused
    with pytest.raises(InvalidStateError, match="right now"):
        store.redeliver_webhook(job_id, delivery.id)


def test_redeliver_and_log_are_tenant_scoped(client: Client) -> None:
    job_id = _run_job(client)
    store = client.store
    [m] = store.claim_webhooks("a")
    store.record_webhook_attempt(m, AttemptOutcome(DeliveryStatus.DELIVERED, 200))
    [delivery] = store.list_webhook_deliveries(job_id, "default")
    with pytest.raises(JobNotFoundError):
        store.list_webhook_deliveries(job_id, "other")
    with pytest.raises(JobNotFoundError):
        store.redeliver_webhook(job_id, delivery.id, "other")
    with pytest.raises(JobNotFoundError):
        store.list_webhook_deliveries(uuid.uuid4())
    with pytest.raises(DeliveryNotFoundError):
        store.redeliver_webhook(job_id, delivery.id + 1000)


def test_webhook_secret_fallback_creates_one_per_tenant(client: Client) -> None:
    store = client.store
    secret = store._webhook_secret("acme")  # type: ignore[attr-defined]
    assert secret.startswith("whsec_")
    assert store._webhook_secret("acme") == secret  # type: ignore[attr-defined]
    assert store._webhook_secret("other") != secret  # type: ignore[attr-defined]
