"""The webhook dispatcher's store operations: leasing, fencing, the delivery log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from conveyor.exceptions import JobNotFoundError
from conveyor.models import Job
from conveyor.store import Store
from conveyor.store._outbox import AttemptOutcome, DeliveryStatus

from .support import count_rows, run_all, submit

HOOK = "https://example.com/hook"


def _completed_with_hook(store: Store, tenant: str = "default") -> Job:
    job = submit(store, callback_url=HOOK, tenant=tenant)
    run_all(store)
    return job


def test_claim_record_delivered(store: Store) -> None:
    job = _completed_with_hook(store, tenant="acme")
    [message] = store.claim_webhooks("d1", lease_seconds=30)
    assert message.attempts == 1 and message.event_type == "job.completed"
    assert store.claim_webhooks("d2") == []  # leased
    outcome = AttemptOutcome(DeliveryStatus.DELIVERED, status_code=204, duration_ms=3.5)
    assert store.record_webhook_attempt(message, outcome) is True
    [stored] = store.list_webhook_messages(job.id)
    assert stored.status is DeliveryStatus.DELIVERED and stored.delivered_at is not None
    [delivery] = store.list_webhook_deliveries(job.id, tenant="acme")
    assert (delivery.status, delivery.status_code, delivery.attempt) == (
        DeliveryStatus.DELIVERED,
        204,
        1,
    )
    with pytest.raises(JobNotFoundError):
        store.list_webhook_deliveries(job.id, tenant="other")
    assert store.claim_webhooks("d2") == []


def test_retrying_then_failing(store: Store) -> None:
    job = _completed_with_hook(store)
    [message] = store.claim_webhooks("d")
    retry = AttemptOutcome(DeliveryStatus.RETRYING, status_code=500, retry_at=time.time() - 1)
    assert store.record_webhook_attempt(message, retry)
    [again] = store.claim_webhooks("d")
    assert again.id == message.id and again.attempts == 2
    failed = AttemptOutcome(DeliveryStatus.FAILED, error="gone")
    assert store.record_webhook_attempt(again, failed)
    statuses = [d.status for d in store.list_webhook_deliveries(job.id)]
    assert statuses == [DeliveryStatus.RETRYING, DeliveryStatus.FAILED]
    assert store.list_webhook_messages(job.id)[0].status is DeliveryStatus.FAILED
    with pytest.raises(ValueError):
        store.record_webhook_attempt(again, AttemptOutcome(DeliveryStatus.RETRYING))


def test_a_stale_attempt_is_fenced(store: Store) -> None:
    _completed_with_hook(store)
    [stale] = store.claim_webhooks("d1", lease_seconds=0.1)
    time.sleep(0.2)
    [fresh] = store.claim_webhooks("d2", lease_seconds=30)
    assert fresh.attempts == stale.attempts + 1
    assert store.record_webhook_attempt(stale, AttemptOutcome(DeliveryStatus.FAILED)) is False
    assert store.record_webhook_attempt(fresh, AttemptOutcome(DeliveryStatus.DELIVERED))


def test_messages_of_a_job_go_out_in_order(store: Store) -> None:
    job = submit(store, callback_url=HOOK, webhook_events=["job.started", "job.completed"])
    run_all(store)
    first = store.claim_webhooks("d", limit=10)
    assert [m.event_type for m in first] == ["job.started"]
    store.record_webhook_attempt(first[0], AttemptOutcome(DeliveryStatus.DELIVERED))
    assert [m.event_type for m in store.claim_webhooks("d", limit=10)] == ["job.completed"]
    assert len(store.list_webhook_messages(job.id)) == 2


def test_redeliver(store: Store) -> None:
    job = _completed_with_hook(store)
    [message] = store.claim_webhooks("d")
    store.record_webhook_attempt(message, AttemptOutcome(DeliveryStatus.FAILED, error="x"))
    [delivery] = store.list_webhook_deliveries(job.id)
    again = store.redeliver_webhook(job.id, delivery.id)
    assert again.id == message.id and again.status is DeliveryStatus.PENDING
    [claimed] = store.claim_webhooks("d")
    assert claimed.attempts == 2 and claimed.series_attempt == 1


def test_dispatchers_never_share_a_message(store: Store, open_stores: Callable[[], Store]) -> None:
    for _ in range(30):
        submit(store, callback_url=HOOK)
    run_all(store)
    claimed: list[str] = []
    lock = threading.Lock()

    def dispatch(s: Store) -> None:
        while batch := s.claim_webhooks("d", limit=3, lease_seconds=60):
            with lock:
                claimed.extend(m.id for m in batch)

    threads = [threading.Thread(target=dispatch, args=(open_stores(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claimed) == len(set(claimed)) == 30


def test_cleanup_removes_the_delivery_log(store: Store) -> None:
    _completed_with_hook(store)
    [message] = store.claim_webhooks("d")
    store.record_webhook_attempt(message, AttemptOutcome(DeliveryStatus.DELIVERED))
    assert count_rows(store, "webhook_deliveries") == 1
    store.cleanup(job_retention_seconds=1, event_retention_seconds=0, now=time.time() + 10)
    assert count_rows(store, "webhook_deliveries") == 0
    assert count_rows(store, "webhook_outbox") == 0
