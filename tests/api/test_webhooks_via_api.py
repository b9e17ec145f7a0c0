"""The API server delivers webhooks itself: ``conveyor serve`` runs the dispatcher.

(Delivery semantics, retries and signing are tested in tests/notify; this checks the
wiring: callback_url from POST /jobs → outbox → dispatcher inside serve → a signed
POST to a real receiver, verified with the tenant's secret and the standardwebhooks
package.)
"""

from __future__ import annotations

import json

import httpx
import pytest

from conveyor.store import open_store
from plugins.api import ApiEnv, Processes, wait_status

standardwebhooks = pytest.importorskip("standardwebhooks")
webhooks_plugin = pytest.importorskip("plugins.webhooks")


def test_serve_delivers_signed_webhooks(
    api: ApiEnv, processes: Processes, webhook_receiver: webhooks_plugin.WebhookReceiver
) -> None:
    server = processes.server(
        api.db_url,
        env={
            "CONVEYOR_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "CONVEYOR_WEBHOOK_RETRY_SCHEDULE": "0.1,0.1,0.1",
            "CONVEYOR_WEBHOOK_POLL_INTERVAL": "0.05",
        },
    )
    webhook_receiver.fail_first_per_message = 1  # every message needs a retry
    body = {
        "name": "hooked",
        "task": {"identifier": "NoOp"},
        "callback_url": webhook_receiver.url(),
        "webhook_events": ["job.started", "job.completed"],
    }
    with httpx.Client(base_url=server.url, headers=api.headers(), timeout=30) as http:
        job_id = http.post("/jobs", json=body).json()["id"]
        wait_status(http, job_id, {"COMPLETED"})

    def both_delivered() -> bool:
        """Two messages (started, completed), each failed once and then delivered."""
        ids = {hit.webhook_id for hit in webhook_receiver.hits_for()}
        return len(ids) == 2 and len(webhook_receiver.hits_for()) >= 4

    assert webhook_receiver.wait_for(both_delivered, timeout=30), webhook_receiver.hits
    store = open_store(api.db_url)
    secret = store.get_tenant_secret("alice")
    store.close()
    verifier = standardwebhooks.Webhook(secret)
    hits = webhook_receiver.hits_for()
    for hit in hits:
        payload = verifier.verify(hit.body, hit.headers)  # raises on a bad signature
        assert payload["data"]["job_id"] == job_id
    types = [json.loads(h.body)["type"] for h in hits]
    assert types.count("job.started") == 2 and types.count("job.completed") == 2
    assert types.index("job.started") < types.index("job.completed")
    by_id: dict[str, set[bytes]] = {}
    for hit in hits:  # a retry resends the same message under the same webhook-id
        by_id.setdefault(hit.webhook_id, set()).add(hit.body)
    assert len(by_id) == 2 and all(len(bodies) == 1 for bodies in by_id.values())
