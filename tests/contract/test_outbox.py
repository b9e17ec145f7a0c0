"""The webhook outbox: one row per reported state change, written with the change itself."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from conveyor.exceptions import ConflictError
from conveyor.store import Store

from .support import claim_one, error, run_all, submit, task

HOOK = "https://example.com/hook"


def _messages(store: Store, job_id: UUID) -> list[tuple[str, str]]:
    return [(m.event_type, m.status.value) for m in store.list_webhook_messages(job_id)]


def test_default_events_are_the_terminal_ones(store: Store) -> None:
    job = submit(store, "render", callback_url=HOOK, tenant="acme")
    run_all(store)
    [message] = store.list_webhook_messages(job.id)
    assert (message.event_type, message.status.value, message.url) == (
        "job.completed",
        "PENDING",
        HOOK,
    )
    assert message.tenant == "acme" and message.job_id == job.id
    assert message.id.startswith("msg_") and message.attempts == 0
    payload = json.loads(message.payload)
    assert payload["type"] == "job.completed"
    assert payload["data"] == {"job_id": str(job.id), "name": "render", "state": "COMPLETED"}


def test_chosen_events(store: Store) -> None:
    job = submit(store, callback_url=HOOK, webhook_events=["job.started", "job.failed"])
    ct = claim_one(store)
    store.fail_task(ct.id, ct.attempt, error("no"), retry_at=None)
    assert _messages(store, job.id) == [("job.started", "PENDING"), ("job.failed", "PENDING")]
    failed = json.loads(store.list_webhook_messages(job.id)[1].payload)
    assert failed["data"]["error"]["message"] == "no"


def test_cancel_and_retry_are_reported(store: Store) -> None:
    job = submit(store, callback_url=HOOK, webhook_events=["job.canceled", "job.queued"])
    store.cancel_job(job.id)
    store.retry_job(job.id)
    assert _messages(store, job.id) == [("job.canceled", "PENDING"), ("job.queued", "PENDING")]


def test_no_callback_no_messages(store: Store) -> None:
    job = submit(store)
    run_all(store)
    assert store.list_webhook_messages(job.id) == []


def test_a_rejected_change_writes_no_message(store: Store) -> None:
    """The outbox row commits with the state change or not at all."""
    first = submit(store, callback_url=HOOK, idempotency_key="k", request_hash="a")
    with pytest.raises(ConflictError):
        submit(store, callback_url=HOOK, idempotency_key="k", request_hash="b")
    root = task("root")
    job = submit(store, callback_url=HOOK, webhook_events=["job.started"], root=root)
    ct = claim_one(store, ["root@v1"])
    with pytest.raises(ValueError):  # the whole commit is refused...
        store.complete_task(ct.id, ct.attempt, subtasks=[task(depends_on=[3])])
    store.cancel_job(job.id)  # ...so the job is still live and can be cancelled
    assert _messages(store, job.id) == [("job.started", "PENDING")]
    assert store.list_webhook_messages(first.id) == []
