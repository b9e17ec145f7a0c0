"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

import httpx

from plugins.api import ApiEnv, wait_status


def test_healthz_needs_no_key(api: ApiEnv) -> None:
    response = httpx.get(api.url + "/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_metrics(api: ApiEnv) -> None:
    with api.http() as http:
        job_id = http.post("/jobs", json={"name": "m", "task": {"identifier": "NoOp"}}).json()["id"]
        wait_status(http, job_id, {"COMPLETED"})
        text = http.get("/metrics").text
    lines = text.splitlines()
    assert any(line.startswith('conveyor_jobs{state="COMPLETED"}') for line in lines)
    assert any(line.startswith('conveyor_jobs{state="QUEUED"}') for line in lines)
    assert any(
        line.startswith('conveyor_http_requests_total{method="POST",route="/jobs",status="202"}')
        for line in lines
    )
    assert 'conveyor_task_duration_seconds{identifier="NoOp",quantile="0.5"}' in text
    assert "conveyor_http_request_duration_seconds_bucket" in text
    assert "conveyor_webhook_deliveries_total" in text or "# TYPE conveyor_webhook" in text
    assert "conveyor_event_subscribers" in text


def test_openapi_is_complete(api: ApiEnv) -> None:
    spec = httpx.get(api.url + "/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/jobs", "post"),
        ("/jobs", "get"),
        ("/jobs/{job_id}", "get"),
        ("/jobs/{job_id}/status", "get"),
        ("/jobs/{job_id}/events", "get"),
        ("/jobs/{job_id}/cancel", "post"),
        ("/jobs/{job_id}/retry", "post"),
        ("/jobs/{job_id}/results/{name}", "get"),
        ("/healthz", "get"),
    ]:
        operation = paths[path][method]
        assert operation["summary"] and operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    post = paths["/jobs"]["post"]
    assert set(post["responses"]) >= {"202", "401", "409", "422"}
    assert post["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "JobAccepted"
    )
    assert (
        "text/event-stream" in paths["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    )
    schemas = spec["components"]["schemas"]
    for name in ("JobRequest", "JobStatus", "JobAccepted", "EventOut", "ErrorResponse"):
        assert schemas[name].get("examples"), name
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
