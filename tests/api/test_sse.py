"""Server-Sent Events: ids, resume with Last-Event-ID after a forced disconnect, stream end."""

from __future__ import annotations

import httpx

from conveyor.store import open_store
from plugins.api import ApiEnv, read_sse, wait_status

SLEEP = {"identifier": "Sleep", "input": {"seconds": 1.5, "steps": 30, "label": "nap"}}


def _log_ids(api: ApiEnv, job_id: str) -> list[int]:
    """Every event id of the job in the durable log (the ground truth)."""
    from uuid import UUID

    store = open_store(api.db_url)
    try:
        return [e.id for e in store.events_after(UUID(job_id), 0)]
    finally:
        store.close()


def test_stream_resumes_without_gaps_or_duplicates(api: ApiEnv) -> None:
    with api.http() as http:
        job_id = http.post("/jobs", json={"name": "sse", "task": SLEEP}).json()["id"]
        received: list[dict] = []
        last = None
        # Hang up after every 3 events, then reconnect with Last-Event-ID.
        for _ in range(200):
            batch = read_sse(http, job_id, last_event_id=last, stop_after=3)
            received += batch
            if batch:
                last = batch[-1]["sse_id"]
            if (
                received
                and received[-1]["type"] == "state"
                and received[-1]["data"]["status"] in {"COMPLETED", "FAILED", "CANCELED"}
            ):
                break
        ids = [e["sse_id"] for e in received]
        assert ids == sorted(set(ids)), "duplicates or out of order"
        assert ids == _log_ids(api, job_id), "a gap: the log has events the client missed"
        assert all(e["id"] == e["sse_id"] and e["sse_event"] == e["type"] for e in received)
        states = [e["data"]["status"] for e in received if e["type"] == "state"]
        assert states == ["PENDING", "PROCESSING", "COMPLETED"]
        progress = [e["data"]["progress"] for e in received if e["type"] == "progress"]
        assert progress and progress[-1] == [{"label": "nap", "total": 30, "done": 30}]
        dones = [p[0]["done"] for p in progress]
        assert dones == sorted(dones)


def test_stream_replays_a_finished_job_and_ends(api: ApiEnv) -> None:
    with api.http() as http:
        job_id = http.post("/jobs", json={"name": "done", "task": {"identifier": "NoOp"}}).json()[
            "id"
        ]
        wait_status(http, job_id, {"COMPLETED"})
        events = read_sse(http, job_id)  # returns because the server ends the stream
        assert [e["data"]["state"] for e in events if e["type"] == "state"] == [
            "QUEUED",
            "STARTED",
            "COMPLETED",
        ]
        after_first = read_sse(http, job_id, last_event_id=events[0]["id"])
        assert after_first == events[1:]
        by_query = http.get(f"/jobs/{job_id}/events", params={"last_event_id": events[-2]["id"]})
        assert by_query.status_code == 200 and by_query.text.count("\nevent: ") == 1
        # Everything seen: 204, which tells an EventSource to stop reconnecting.
        seen_all = http.get(
            f"/jobs/{job_id}/events", headers={"Last-Event-ID": str(events[-1]["id"])}
        )
        assert seen_all.status_code == 204 and seen_all.content == b""


def test_stream_errors(api: ApiEnv) -> None:
    with api.http() as http:
        missing = http.get("/jobs/00000000-0000-4000-8000-000000000000/events")
        assert missing.status_code == 404
        assert missing.json()["detail"][0]["loc"] == ["path", "job_id"]
        job_id = http.post("/jobs", json={"name": "x", "task": {"identifier": "NoOp"}}).json()["id"]
        bad = http.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "soon"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


def test_live_stream_follows_a_running_job(api: ApiEnv) -> None:
    """Connect before the job starts and read everything in one go (the live path)."""
    with api.http() as http:
        job_id = http.post("/jobs", json={"name": "live", "task": SLEEP}).json()["id"]
        with httpx.Client(base_url=api.url, headers=api.headers(), timeout=60) as other:
            events = read_sse(other, job_id)
        assert [e["sse_id"] for e in events] == _log_ids(api, job_id)
        assert events[-1]["data"]["status"] == "COMPLETED"
