"""The body a receiver gets: the outbox payload, enriched with what a client acts on.

The outbox row is written inside the state change's transaction and stays
minimal (``{type, timestamp, data: {job_id, name, state, error?}}``). At send
time the body also gets the public status name the HTTP API uses
(PENDING/PROCESSING/COMPLETED/FAILED/CANCELED), the status URL, and for a
completed job the URLs of its results, so a receiver needs no extra round trip
to find out what happened. The body depends only on the message and the job's
(terminal) results, so retries send the same bytes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from conveyor.models import Job, JobState

__all__ = ["STATUS_NAMES", "webhook_body"]

#: Job state -> the status name of the HTTP API (``GET /jobs/{id}/status``).
STATUS_NAMES: dict[JobState, str] = {
    JobState.QUEUED: "PENDING",
    JobState.STARTED: "PROCESSING",
    JobState.COMPLETED: "COMPLETED",
    JobState.FAILED: "FAILED",
    JobState.CANCELED: "CANCELED",
}


def webhook_body(payload_json: str, job: Job | None, public_url: str | None = None) -> bytes:
    """The JSON bytes to POST for one outbox message.

    URLs are absolute when ``public_url`` (the API's external base URL) is set,
    otherwise paths relative to the API server.
    """
    payload: dict[str, Any] = json.loads(payload_json)
    data = payload.get("data")
    if isinstance(data, dict):
        _enrich(data, job, (public_url or "").rstrip("/"))
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _enrich(data: dict[str, Any], job: Job | None, base: str) -> None:
    try:
        state: JobState | None = JobState(str(data.get("state")))
    except ValueError:
        state = None
    if state is not None:
        data["status"] = STATUS_NAMES[state]
    job_id = data.get("job_id")
    if not job_id:
        return
    data["status_url"] = f"{base}/jobs/{job_id}/status"
    if state is JobState.COMPLETED and job is not None and job.results:
        data["results"] = [
            {
                "name": result.name,
                "content_type": result.content_type,
                "size": result.size,
                "url": f"{base}/jobs/{job_id}/results/{quote(result.name, safe='')}",
            }
            for result in job.results
        ]
