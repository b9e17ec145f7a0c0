"""``GET /jobs/{id}/deliveries`` and ``POST .../redeliver`` over the real store.

The router is mounted on a bare FastAPI app with the two error mappings the API
installs (JobNotFoundError -> 404, InvalidStateError -> 409); the tenant comes from
an override of the API's ``current_tenant`` dependency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from conveyor.api.routers import deliveries
from conveyor.examples import EXAMPLE_TASKS, NoOp
from conveyor.exceptions import InvalidStateError, JobNotFoundError
from conveyor.notify.dispatcher import Dispatcher
from conveyor.workflows import Client
from plugins.webhooks import WebhookReceiver, drain, fast_settings


@pytest.fixture
def tenant() -> dict[str, str]:
    return {"name": "default"}


@pytest.fixture
def http(client: Client, tenant: dict[str, str]) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(deliveries.router)
    app.state.conveyor = SimpleNamespace(store=client.store)
    app.dependency_overrides[deliveries.current_tenant] = lambda: tenant["name"]

    @app.exception_handler(JobNotFoundError)
    async def _404(request: Request, exc: JobNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidStateError)
    async def _409(request: Request, exc: InvalidStateError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    with TestClient(app) as test_client:
        yield test_client


def test_list_and_redeliver(
    client: Client,
    db_url: str,
    http: TestClient,
    tenant: dict[str, str],
    webhook_receiver: WebhookReceiver,
    make_dispatcher: Callable[..., Dispatcher],
) -> None:
    webhook_receiver.answer(500)
    dispatcher = make_dispatcher(client.store, fast_settings(db_url))
    job = client.jobs().submit("r", NoOp(), callback_url=webhook_receiver.url())
    client.runner(tasks=EXAMPLE_TASKS).run_all()
    drain(dispatcher, client.store, job.id)

    response = http.get(f"/jobs/{job.id}/deliveries")
    assert response.status_code == 200
    log = response.json()
    assert [(d["attempt"], d["status"], d["status_code"]) for d in log] == [
        (1, "RETRYING", 500),
        (2, "DELIVERED", 200),
    ]
    assert set(log[0]) == {
        "id", "message_id", "event_type", "attempt", "url", "status_code", "error",
        "duration_ms", "created_at", "status",
    }  # fmt: skip
    assert log[0]["event_type"] == "job.completed" and log[0]["url"] == webhook_receiver.url()
    assert http.get(f"/jobs/{job.id}/deliveries", params={"limit": 1}).json() == log[:1]

    again = http.post(f"/jobs/{job.id}/deliveries/{log[1]['id']}/redeliver")
    assert again.status_code == 202
    assert again.json()["message_id"] == log[0]["message_id"]
    assert again.json()["status"] == "PENDING"
    drain(dispatcher, client.store, job.id)
    assert [h.webhook_id for h in webhook_receiver.hits_for()] == [log[0]["message_id"]] * 3
    assert len(http.get(f"/jobs/{job.id}/deliveries").json()) == 3

    tenant["name"] = "intruder"
    assert http.get(f"/jobs/{job.id}/deliveries").status_code == 404
    assert http.post(f"/jobs/{job.id}/deliveries/{log[1]['id']}/redeliver").status_code == 404


def test_unknown_job_or_delivery_is_404_and_in_flight_is_409(
    client: Client, http: TestClient
) -> None:
    assert http.get(f"/jobs/{uuid.uuid4()}/deliveries").status_code == 404
    job = client.jobs().submit("r", NoOp(), callback_url="http://127.0.0.1:9/hook")
    client.runner(tasks=EXAMPLE_TASKS).run_all()
    assert http.get(f"/jobs/{job.id}/deliveries").json() == []
    assert http.post(f"/jobs/{job.id}/deliveries/5/redeliver").status_code == 404
    assert http.post(f"/jobs/{job.id}/deliveries/0/redeliver").status_code == 422

    from conveyor.store._outbox import AttemptOutcome, DeliveryStatus

    [message] = client.store.claim_webhooks("w")
    client.store.record_webhook_attempt(
        message, AttemptOutcome(DeliveryStatus.RETRYING, 500, "HTTP 500", 1.0, 0.0)
    )
    [delivery] = client.store.list_webhook_deliveries(job.id)
    client.store.claim_webhooks("w", lease_seconds=60)  # an attempt is in flight
    response = http.post(f"/jobs/{job.id}/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 409
    assert "right now" in response.json()["detail"]


def test_openapi_documents_both_routes(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert "get" in paths["/jobs/{job_id}/deliveries"]
    redeliver = paths["/jobs/{job_id}/deliveries/{delivery_id}/redeliver"]["post"]
    assert {"202", "404", "409"} <= set(redeliver["responses"])
