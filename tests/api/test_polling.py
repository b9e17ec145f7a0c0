"""The polling flow end to end: 202 + Location, status until COMPLETED, result, full job."""

from __future__ import annotations

import json

from plugins.api import ApiEnv, wait_status

COUNTDOWN = {"identifier": "Countdown", "input": {"n": 2, "steps": 3, "delay": 0.01}}


def test_submit_poll_result(api: ApiEnv) -> None:
    with api.http() as http:
        response = http.post("/jobs", json={"name": "poll", "task": COUNTDOWN})
        assert response.status_code == 202, response.text
        accepted = response.json()
        job_id = accepted["id"]
        assert accepted["status"] == "PENDING"
        assert response.headers["Location"] == accepted["status_url"]
        assert response.headers["Location"].endswith(f"/jobs/{job_id}/status")
        assert int(response.headers["Retry-After"]) >= 0
        assert accepted["events_url"].endswith(f"/jobs/{job_id}/events")
        assert accepted["websocket_url"].startswith("ws://")

        first = http.get(accepted["status_url"]).json()
        assert first["status"] in {"PENDING", "PROCESSING", "COMPLETED"}

        done = wait_status(http, job_id, {"COMPLETED", "FAILED", "CANCELED"})
        assert done["status"] == "COMPLETED" and done["state"] == "COMPLETED"
        assert done["error"] is None and done["eta_seconds"] is None
        assert {p["label"]: (p["done"], p["total"]) for p in done["progress"]} == {
            "count": (6, 6),
            "verify": (2, 2),
        }
        assert done["submitted_at"] <= done["started_at"] <= done["finished_at"]
        [file] = done["result"]["files"]
        assert file["name"] == "summary.json" and file["content_type"] == "application/json"
        assert done["result"]["inline"]["summary.json"] == {"ticks": 2, "steps": 6}

        download = http.get(file["url"])
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/json")
        assert json.loads(download.content) == {"ticks": 2, "steps": 6}
        assert int(download.headers["content-length"]) == file["size"]

        full = http.get(f"/jobs/{job_id}").json()
        assert full["status"] == "COMPLETED" and full["tenant"] == "alice"
        identifiers = [t["identifier"] for t in full["tasks"]]
        assert identifiers == ["Countdown", "Tick", "Verify", "Tick", "Verify", "Summarize"]
        assert all(t["state"] == "COMPUTED" and t["attempt"] == 1 for t in full["tasks"])
        assert all(t["started_at"] and t["finished_at"] for t in full["tasks"])


def test_pending_job_has_queue_position(api: ApiEnv) -> None:
    """A job nobody can run stays PENDING with a queue position (and no invented ETA)."""
    with api.http() as http:
        blocked = http.post(
            "/jobs", json={"name": "blocked", "task": {"identifier": "Sleep", "input": {}}}
        ).json()
        http.post(f"/jobs/{blocked['id']}/cancel")  # keep the shared worker free
        status = http.get(f"/jobs/{blocked['id']}/status").json()
        assert status["status"] == "CANCELED" and status["queue_position"] is None


def test_failed_job_reports_error(api: ApiEnv) -> None:
    with api.http() as http:
        body = {"name": "fails", "task": {"identifier": "Fail", "input": {"message": "nope"}}}
        job_id = http.post("/jobs", json=body).json()["id"]
        done = wait_status(http, job_id, {"COMPLETED", "FAILED"})
        assert done["status"] == "FAILED" and done["result"] is None
        assert done["error"]["type"] == "RuntimeError" and done["error"]["message"] == "nope"
        [task] = http.get(f"/jobs/{job_id}").json()["tasks"]
        assert task["state"] == "FAILED" and "RuntimeError: nope" in task["error"]["traceback"]


def test_cancel_and_retry(api: ApiEnv) -> None:
    with api.http() as http:
        body = {
            "name": "sleepy",
            "task": {"identifier": "Sleep", "input": {"seconds": 30, "steps": 300}},
        }
        job_id = http.post("/jobs", json=body).json()["id"]
        wait_status(http, job_id, lambda d: d["status"] == "PROCESSING" and bool(d["progress"]))
        running = http.get(f"/jobs/{job_id}/status").json()
        assert running["eta_seconds"] is None or running["eta_seconds"] >= 0
        canceled = http.post(f"/jobs/{job_id}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED"
        again = http.post(f"/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert again.json()["detail"][0]["loc"] == ["path", "job_id"]

        fail_id = http.post(
            "/jobs", json={"name": "f", "task": {"identifier": "Fail", "input": {}}}
        ).json()["id"]
        wait_status(http, fail_id, {"FAILED"})
        retried = http.post(f"/jobs/{fail_id}/retry")
        assert retried.status_code == 200 and retried.json()["status"] in {"PENDING", "PROCESSING"}
        assert wait_status(http, fail_id, {"FAILED", "COMPLETED"})["status"] == "FAILED"
        tasks = http.get(f"/jobs/{fail_id}").json()["tasks"]
        assert tasks[0]["attempt"] == 2

        not_failed = http.post(f"/jobs/{job_id}/retry")  # CANCELED can be retried...
        assert not_failed.status_code == 200
        http.post(f"/jobs/{job_id}/cancel")
        wait_status(http, job_id, {"CANCELED"})


def test_list_filters_and_cursor(api: ApiEnv) -> None:
    with api.http("bob") as http:
        ids = [
            http.post(
                "/jobs", json={"name": f"page-{i % 2}", "task": {"identifier": "NoOp"}}
            ).json()["id"]
            for i in range(5)
        ]
        for job_id in ids:
            wait_status(http, job_id, {"COMPLETED"})
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 2, "state": "COMPLETED"}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/jobs", params=params).json()
            seen += [j["id"] for j in page["jobs"] if j["id"] in ids]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(ids))  # newest first, each exactly once

        named = http.get("/jobs", params={"name": "page-1", "limit": 100}).json()["jobs"]
        assert {j["id"] for j in named} == {ids[1], ids[3]}
        public = http.get("/jobs", params=[("state", "PENDING"), ("state", "PROCESSING")])
        assert all(j["status"] in {"PENDING", "PROCESSING"} for j in public.json()["jobs"])
        first = http.get(f"/jobs/{ids[0]}").json()["submitted_at"]
        since = http.get("/jobs", params={"since": first, "name": "page-0"}).json()["jobs"]
        assert {j["id"] for j in since} == {ids[0], ids[2], ids[4]}
        until = http.get("/jobs", params={"until": first, "name": "page-0"}).json()["jobs"]
        assert ids[0] not in {j["id"] for j in until}
