"""End to end: real jobs through the store and runner, a real dispatcher, a real HTTP receiver.

Nothing here mocks HTTP: the receiver is a server on 127.0.0.1, which the settings
allow-list (the SSRF guard would refuse it otherwise, as one test checks).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable

from standardwebhooks.webhooks import Webhook

from conveyor.examples import EXAMPLE_TASKS, Countdown, Fail, NoOp
from conveyor.notify.dispatcher import Dispatcher
from conveyor.store._outbox import DeliveryStatus
from conveyor.store.sqlite import SQLiteStore
from conveyor.workflows import Client, Task
from plugins.webhooks import Reply, WebhookReceiver, drain, fast_settings

MakeDispatcher = Callable[..., Dispatcher]


def _run(
    client: Client, url: str, task: Task | None = None, events: list[str] | None = None
) -> uuid.UUID:
    job = client.jobs().submit("hooked", task or NoOp(), callback_url=url, webhook_events=events)
    client.runner(tasks=EXAMPLE_TASKS).run_all()
    return job.id


def _secret(client: Client) -> str:
    return str(client.store.get_tenant_secret("default"))


def test_retries_until_accepted_with_signed_stable_id(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.answer(
        500,
        Reply.timeout(3.0),
        Reply(429, {"Retry-After": "0"}),
        200,
    )
    settings = fast_settings(db_url, webhook_timeout_seconds=0.5)
    dispatcher = make_dispatcher(client.store, settings)
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)

    hits = webhook_receiver.hits_for()
    assert len(hits) == 4
    assert len({h.webhook_id for h in hits}) == 1  # the webhook-id is stable across retries
    assert len({h.body for h in hits}) == 1  # and so is the body
    webhook = Webhook(_secret(client))
    for hit in hits:
        payload = webhook.verify(hit.body, hit.headers)
        assert hit.headers["content-type"] == "application/json"
    assert payload["type"] == "job.completed"
    assert payload["data"]["job_id"] == str(job_id)
    assert payload["data"]["status"] == "COMPLETED"
    assert payload["data"]["status_url"] == f"/jobs/{job_id}/status"

    log = client.store.list_webhook_deliveries(job_id)
    assert [(d.attempt, d.status, d.status_code) for d in log] == [
        (1, DeliveryStatus.RETRYING, 500),
        (2, DeliveryStatus.RETRYING, None),
        (3, DeliveryStatus.RETRYING, 429),
        (4, DeliveryStatus.DELIVERED, 200),
    ]
    assert "timed out after 0.5s" in (log[1].error or "")
    assert log[0].error == "HTTP 500: ok"
    assert all(d.message_id == hits[0].webhook_id for d in log)
    assert all(d.duration_ms is not None and d.duration_ms >= 0 for d in log)
    [message] = client.store.list_webhook_messages(job_id)
    assert message.status is DeliveryStatus.DELIVERED and message.delivered_at is not None


def test_events_of_a_job_arrive_in_order_despite_retries(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.answer(503, 500)  # job.started fails twice before it is accepted
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job_id = _run(client, webhook_receiver.url(), events=["job.started", "job.completed"])
    drain(dispatcher, client.store, job_id)

    types = [json.loads(h.body)["type"] for h in webhook_receiver.hits_for()]
    assert types == ["job.started", "job.started", "job.started", "job.completed"]
    statuses = [json.loads(h.body)["data"]["status"] for h in webhook_receiver.hits_for()]
    assert statuses[-2:] == ["PROCESSING", "COMPLETED"]


def test_failed_job_reports_its_error(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job_id = _run(client, webhook_receiver.url(), Fail("kaput"))  # type: ignore[call-arg]
    drain(dispatcher, client.store, job_id)
    [hit] = webhook_receiver.hits_for()
    payload = Webhook(_secret(client)).verify(hit.body, hit.headers)
    assert payload["type"] == "job.failed"
    assert payload["data"]["status"] == "FAILED"
    assert payload["data"]["error"]["message"] == "kaput"


def test_completed_job_links_its_results(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    settings = fast_settings(db_url)
    settings.public_url = "https://api.example"
    dispatcher = make_dispatcher(client.store, settings)
    job_id = _run(client, webhook_receiver.url(), Countdown(n=1, steps=1, delay=0))  # type: ignore[call-arg]
    drain(dispatcher, client.store, job_id)
    [hit] = webhook_receiver.hits_for()
    data = json.loads(hit.body)["data"]
    assert data["status_url"] == f"https://api.example/jobs/{job_id}/status"
    assert [r["url"] for r in data["results"]] == [
        f"https://api.example/jobs/{job_id}/results/summary.json"
    ]


def test_gives_up_after_the_schedule_and_4xx_fails_at_once(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.default = Reply(502, body=b"bad gateway")
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)
    log = client.store.list_webhook_deliveries(job_id)
    assert [d.status for d in log] == [DeliveryStatus.RETRYING] * 3 + [DeliveryStatus.FAILED]
    assert "gave up after 4 attempts" in (log[-1].error or "")
    assert client.store.list_webhook_messages(job_id)[0].status is DeliveryStatus.FAILED

    webhook_receiver.default = Reply(404, body=b"no such hook")
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)
    [only] = client.store.list_webhook_deliveries(job_id)
    assert (only.status, only.status_code, only.error) == (
        DeliveryStatus.FAILED,
        404,
        "HTTP 404: no such hook",
    )


def test_redirects_are_never_followed(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.default = Reply.redirect(webhook_receiver.url("/elsewhere"))
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)
    assert len(webhook_receiver.hits_for()) == 1
    assert webhook_receiver.hits_for("/elsewhere") == []
    [only] = client.store.list_webhook_deliveries(job_id)
    assert only.status is DeliveryStatus.FAILED and only.status_code == 302
    assert "redirect to" in (only.error or "") and "not followed" in (only.error or "")


def test_response_body_is_read_only_up_to_the_cap(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.default = Reply.endless_body()
    # Were the body read without a cap, the attempt would time out (and read gigabytes).
    settings = fast_settings(db_url, webhook_timeout_seconds=5.0, webhook_max_response_bytes=1024)
    dispatcher = make_dispatcher(client.store, settings)
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)
    [only] = client.store.list_webhook_deliveries(job_id)
    assert (only.status, only.status_code, only.error) == (DeliveryStatus.DELIVERED, 200, None)
    assert webhook_receiver.endless_done.wait(10)  # the dispatcher hung up on the stream
    # what the receiver got out before the hang-up: the cap plus socket buffers, not more
    assert webhook_receiver.endless_bytes_sent < 64 * 2**20


def test_ssrf_guard_refuses_at_send_time_without_the_allow_list(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    dispatcher = make_dispatcher(client.store, fast_settings(db_url, webhook_allowed_hosts=[]))
    local = _run(client, webhook_receiver.url())
    metadata = _run(client, "http://169.254.169.254/latest/meta-data/")
    for job_id, reason in ((local, "loopback"), (metadata, "metadata")):
        drain(dispatcher, client.store, job_id)
        [only] = client.store.list_webhook_deliveries(job_id)
        assert only.status is DeliveryStatus.FAILED and only.status_code is None
        assert reason in (only.error or "")
    assert webhook_receiver.hits == []


def test_redelivery_sends_the_same_message_again(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job_id = _run(client, webhook_receiver.url())
    drain(dispatcher, client.store, job_id)
    [first] = client.store.list_webhook_deliveries(job_id)
    client.store.redeliver_webhook(job_id, first.id)
    drain(dispatcher, client.store, job_id)
    hits = webhook_receiver.hits_for()
    assert len(hits) == 2 and hits[0].webhook_id == hits[1].webhook_id
    Webhook(_secret(client)).verify(hits[1].body, hits[1].headers)
    log = client.store.list_webhook_deliveries(job_id)
    assert [(d.attempt, d.status) for d in log] == [
        (1, DeliveryStatus.DELIVERED),
        (2, DeliveryStatus.DELIVERED),
    ]


def test_two_dispatchers_never_send_one_message_concurrently(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    webhook_receiver.fail_first_per_message = 1  # every message is sent twice: 500, then 200
    webhook_receiver.hold = 0.02
    jobs = client.jobs()
    ids = [jobs.submit(f"j{i}", NoOp(), callback_url=webhook_receiver.url()).id for i in range(30)]
    client.runner(tasks=EXAMPLE_TASKS).run_all()

    settings = fast_settings(db_url, webhook_concurrency=4)
    stores = [SQLiteStore(db_url), SQLiteStore(db_url)]
    dispatchers = [make_dispatcher(s, settings) for s in stores]
    start = threading.Barrier(2)

    def begin(d: Dispatcher) -> None:
        start.wait()
        d.start()

    threads = [threading.Thread(target=begin, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert webhook_receiver.wait_for(lambda: len(webhook_receiver.hits) >= 60, timeout=60)
    finally:
        for d in dispatchers:
            d.stop()
        for s in stores:
            s.close()

    assert webhook_receiver.overlaps == []
    per_message = Counter(h.webhook_id for h in webhook_receiver.hits)
    assert len(per_message) == 30 and set(per_message.values()) == {2}
    for job_id in ids:
        log = client.store.list_webhook_deliveries(job_id)
        assert [(d.attempt, d.status) for d in log] == [
            (1, DeliveryStatus.RETRYING),
            (2, DeliveryStatus.DELIVERED),
        ]


def test_background_thread_delivers_and_stops(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    with dispatcher:
        assert dispatcher.running
        job_id = _run(client, webhook_receiver.url())
        dispatcher.wake()
        assert webhook_receiver.wait_for(lambda: len(webhook_receiver.hits) == 1)
    assert not dispatcher.running
    assert webhook_receiver.wait_for(
        lambda: client.store.list_webhook_messages(job_id)[0].status is DeliveryStatus.DELIVERED
    )


def test_connects_to_the_vetted_address_and_keeps_the_host_name(
    client: Client, db_url: str, webhook_receiver: WebhookReceiver, make_dispatcher: MakeDispatcher
) -> None:
    # "localhost" resolves (via /etc/hosts) to 127.0.0.1: allowed by name, sent to the address
    settings = fast_settings(db_url, webhook_allowed_hosts=["localhost"])
    dispatcher = make_dispatcher(client.store, settings)
    url = f"http://localhost:{webhook_receiver.port}/hook?tenant=a"
    job_id = _run(client, url)
    drain(dispatcher, client.store, job_id)
    [hit] = webhook_receiver.hits
    assert hit.path == "/hook?tenant=a"
    assert hit.headers["host"] == f"localhost:{webhook_receiver.port}"
    assert hit.headers["user-agent"].startswith("Conveyor-Webhooks/")
    [only] = client.store.list_webhook_deliveries(job_id)
    assert (only.status, only.url) == (DeliveryStatus.DELIVERED, url)
