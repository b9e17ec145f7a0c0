"""Idempotency-Key: same key and body → the same job; another body → 409."""

from __future__ import annotations

import uuid

from plugins.api import ApiEnv

BODY = {"name": "once", "task": {"identifier": "NoOp", "input": {}}, "max_retries": 1}


def test_same_key_same_body_returns_the_same_job(api: ApiEnv) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    with api.http() as http:
        first = http.post("/jobs", json=BODY, headers=key)
        again = http.post("/jobs", json=BODY, headers=key)
        assert first.status_code == again.status_code == 202
        assert first.json()["id"] == again.json()["id"]
        # Key order and defaults do not change the body's meaning.
        reordered = {"task": {"input": {}, "identifier": "NoOp"}, "max_retries": 1, "name": "once"}
        assert http.post("/jobs", json=reordered, headers=key).json()["id"] == first.json()["id"]

        different = http.post("/jobs", json={**BODY, "name": "twice"}, headers=key)
        assert different.status_code == 409
        assert different.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

        other = http.post("/jobs", json=BODY, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
        assert other.json()["id"] != first.json()["id"]
        unkeyed = [http.post("/jobs", json=BODY).json()["id"] for _ in range(2)]
        assert unkeyed[0] != unkeyed[1]

    # Keys are per tenant: bob's identical request is his own job.
    with api.http("bob") as http:
        assert http.post("/jobs", json=BODY, headers=key).json()["id"] != first.json()["id"]


def test_invalid_key(api: ApiEnv) -> None:
    with api.http() as http:
        response = http.post("/jobs", json=BODY, headers={"Idempotency-Key": "x" * 300})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
