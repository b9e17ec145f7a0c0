"""Every refusal is JSON naming the field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.api import ApiEnv

OK_TASK = {"identifier": "Countdown", "input": {"n": 1}}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x", "task": {"identifier": "Nope"}}, ["body", "task", "identifier"]),
        ({"name": "x", "task": {"identifier": "Countdown", "input": {"n": "many"}}},
         ["body", "task", "input", "n"]),
        ({"name": "x", "task": {"identifier": "Tick", "input": {}}},
         ["body", "task", "input", "index"]),
        ({"name": "x", "task": {"identifier": "Countdown", "input": {"typo": 1}}},
         ["body", "task", "input", "typo"]),
        ({"name": "x", "task": {"identifier": "Countdown", "version": "v9"}},
         ["body", "task", "version"]),
        ({"name": "", "task": OK_TASK}, ["body", "name"]),
        ({"task": OK_TASK}, ["body", "name"]),
        ({"name": "x"}, ["body", "task"]),
        ({"name": "x", "task": OK_TASK, "max_retries": -1}, ["body", "max_retries"]),
        ({"name": "x", "task": OK_TASK, "callback_url": "not a url"}, ["body", "callback_url"]),
        ({"name": "x", "task": OK_TASK, "callback_url": "ftp://example.com/x"},
         ["body", "callback_url"]),
        ({"name": "x", "task": OK_TASK, "callback_url": "http://169.254.169.254/latest"},
         ["body", "callback_url"]),
        ({"name": "x", "task": OK_TASK, "callback_url": "http://127.0.0.1:9/hook"},
         ["body", "callback_url"]),
        ({"name": "x", "task": OK_TASK, "webhook_events": ["job.exploded"]},
         ["body", "webhook_events", 0]),
        ({"name": "x", "task": OK_TASK, "surprise": True}, ["body", "surprise"]),
    ],
)  # fmt: skip
def test_post_jobs_422_names_the_field(api: ApiEnv, body: dict[str, Any], loc: list[Any]) -> None:
    with api.http() as http:
        response = http.post("/jobs", json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert loc in [item["loc"] for item in detail], detail
        assert all(item["msg"] for item in detail)


def test_malformed_json_body(api: ApiEnv) -> None:
    with api.http() as http:
        for raw in (b"{nope", b"\xff\xfe\x1a{"):
            headers = {"Content-Type": "application/json"}
            response = http.post("/jobs", content=raw, headers=headers)
            assert response.status_code == 422, raw
            assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"state": "SLEEPING"}, ["query", "state", 0]),
        ({"limit": 0}, ["query", "limit"]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"cursor": "garbage!"}, ["query", "cursor"]),
    ],
)
def test_list_422(api: ApiEnv, params: dict[str, Any], loc: list[Any]) -> None:
    with api.http() as http:
        response = http.get("/jobs", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == loc


def test_path_errors(api: ApiEnv) -> None:
    with api.http() as http:
        assert http.get("/jobs/42/status").json()["detail"][0]["loc"] == ["path", "job_id"]
        unknown = http.get("/jobs/00000000-0000-4000-8000-000000000000/status")
        assert unknown.status_code == 404
        assert unknown.json()["detail"][0]["loc"] == ["path", "job_id"]
        nowhere = http.get("/nowhere")
        assert nowhere.status_code == 404 and nowhere.json()["detail"][0]["msg"]


def test_tasks_lists_accepted_identifiers(api: ApiEnv) -> None:
    with api.http() as http:
        tasks = {t["identifier"]: t for t in http.get("/tasks").json()}
        assert {"Countdown", "Sleep", "NoOp", "Fail"} <= set(tasks)
        assert tasks["Countdown"]["input_schema"]["properties"]["n"]["type"] == "integer"
