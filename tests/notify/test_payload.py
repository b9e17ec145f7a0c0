"""The body adds the API's status name, status URL and result URLs to the outbox payload."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from conveyor.models import Job, JobState, ResultInfo
from conveyor.notify.payload import webhook_body

JOB_ID = uuid.uuid4()


def _payload(state: str, **extra: object) -> str:
    data = {"job_id": str(JOB_ID), "name": "n", "state": state, **extra}
    return json.dumps({"type": f"job.{state.lower()}", "timestamp": "t", "data": data})


def _job(state: JobState, results: list[ResultInfo]) -> Job:
    return Job(JOB_ID, "n", state, datetime.now(UTC), results=results)


def test_completed_body_links_status_and_results() -> None:
    results = [ResultInfo("out put.png", "image/png", 12, "blob")]
    body = json.loads(
        webhook_body(
            _payload("COMPLETED"), _job(JobState.COMPLETED, results), "https://api.example/"
        )
    )
    data = body["data"]
    assert data["status"] == "COMPLETED"
    assert data["status_url"] == f"https://api.example/jobs/{JOB_ID}/status"
    assert data["results"] == [
        {
            "name": "out put.png",
            "content_type": "image/png",
            "size": 12,
            "url": f"https://api.example/jobs/{JOB_ID}/results/out%20put.png",
        }
    ]
    assert body["type"] == "job.completed"


def test_status_names_and_relative_urls_without_public_url() -> None:
    started = json.loads(webhook_body(_payload("STARTED"), None))["data"]
    assert started["status"] == "PROCESSING"
    assert started["status_url"] == f"/jobs/{JOB_ID}/status"
    assert "results" not in started
    failed = json.loads(webhook_body(_payload("FAILED", error={"message": "boom"}), None))
    assert failed["data"]["status"] == "FAILED"
    assert failed["data"]["error"] == {"message": "boom"}


def test_body_is_stable_for_the_same_message() -> None:
    job = _job(JobState.COMPLETED, [ResultInfo("r", "text/plain", 1, "b")])
    assert webhook_body(_payload("COMPLETED"), job) == webhook_body(_payload("COMPLETED"), job)
