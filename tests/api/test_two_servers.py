"""Two API servers on one database: submit at A, follow at B (no sticky sessions)."""

from __future__ import annotations

import json

import httpx
from websockets.sync.client import connect

from plugins.api import ApiEnv, Processes, read_sse, wait_status


def test_submit_at_one_server_watch_at_another(api: ApiEnv, processes: Processes) -> None:
    other = processes.server(api.db_url, "--no-notifier")
    body = {"name": "ab", "task": {"identifier": "Sleep", "input": {"seconds": 1, "steps": 10}}}
    with (
        httpx.Client(base_url=api.url, headers=api.headers(), timeout=30) as a,
        httpx.Client(base_url=other.url, headers=api.headers(), timeout=30) as b,
    ):
        accepted = a.post("/jobs", json=body).json()
        job_id = accepted["id"]
        ws_url = other.url.replace("http://", "ws://") + f"/jobs/{job_id}/ws"
        with connect(ws_url, additional_headers=api.headers()) as ws:
            sse_b = read_sse(b, job_id)  # live at B while the job runs
            ws_events = []
            while not ws_events or ws_events[-1]["data"].get("status") != "COMPLETED":
                ws_events.append(json.loads(ws.recv(timeout=60)))
        assert [e["id"] for e in ws_events] == [e["id"] for e in sse_b]
        assert sse_b[-1]["data"]["status"] == "COMPLETED"
        assert any(e["type"] == "progress" for e in sse_b)
        assert wait_status(b, job_id, {"COMPLETED"}) == wait_status(a, job_id, {"COMPLETED"})
        assert b.get(f"/jobs/{job_id}").json()["tasks"] == a.get(f"/jobs/{job_id}").json()["tasks"]
        assert read_sse(a, job_id) == sse_b
