"""Every remote operation written once, without I/O ("sans-I/O").

An operation is a generator: it yields the HTTP requests it needs and receives
their responses, then returns the result. ``RemoteJobClient`` drives it with a
blocking httpx client and ``AsyncJobClient`` with an async one, so the two never
drift apart (no hand-synchronised twins).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx

from conveyor.ids import parse_id
from conveyor.models import (
    ErrorInfo,
    Job,
    JobState,
    ProgressIndicator,
    ResultInfo,
    TaskInfo,
    TaskState,
)
from conveyor.remote.errors import raise_for_response
from conveyor.workflows._serde import encode_task
from conveyor.workflows.task import Task

__all__ = ["Op", "Request", "job_from_json", "job_id_of"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: list[tuple[str, str | int | float | bool | None]] = field(default_factory=list)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Op = Generator[Request, httpx.Response, T]

_PAGE = 1000


def job_id_of(job: UUID | str | Job) -> str:
    if isinstance(job, Job):
        return str(job.id)
    return str(parse_id(job))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _error(data: Mapping[str, Any] | None) -> ErrorInfo | None:
    if not data:
        return None
    task_id = data.get("task_id")
    return ErrorInfo(
        type=str(data.get("type", "Error")),
        message=str(data.get("message", "")),
        traceback=str(data.get("traceback", "")),
        task_id=UUID(task_id) if task_id else None,
    )


def job_from_json(data: Mapping[str, Any]) -> Job:
    """A Job from the API's JSON; a result's ``blob_key`` is its download URL here."""
    return Job(
        id=UUID(data["id"]),
        name=data["name"],
        state=JobState(data["state"]),
        submitted_at=datetime.fromisoformat(data["submitted_at"]),
        started_at=_time(data.get("started_at")),
        finished_at=_time(data.get("finished_at")),
        error=_error(data.get("error")),
        progress=[ProgressIndicator(p["label"], p["total"], p["done"]) for p in data["progress"]],
        tenant=data.get("tenant", "default"),
        callback_url=data.get("callback_url"),
        webhook_events=data.get("webhook_events"),
        results=[
            ResultInfo(r["name"], r["content_type"], r["size"], r["url"])
            for r in data.get("results", [])
        ],
    )


def _task_from_json(job_id: UUID, data: Mapping[str, Any]) -> TaskInfo:
    return TaskInfo(
        id=UUID(data["id"]),
        job_id=job_id,
        parent_id=UUID(data["parent_id"]) if data.get("parent_id") else None,
        identifier=data["identifier"],
        version=data["version"],
        state=TaskState(data["state"]),
        attempt=data["attempt"],
        failures=data["failures"],
        lease_losses=data["lease_losses"],
        max_retries=data["max_retries"],
        optional=data["optional"],
        depends_on=[UUID(d) for d in data["depends_on"]],
        input=data["input"],
        created_at=datetime.fromisoformat(data["created_at"]),
        started_at=_time(data.get("started_at")),
        finished_at=_time(data.get("finished_at")),
        error=_error(data.get("error")),
        worker_id=data.get("worker_id"),
    )


def _json(response: httpx.Response) -> Any:
    raise_for_response(response)
    return response.json()


def _task_spec(task: Task | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(task, Task):
        encoded = encode_task(task)
        return {
            "identifier": encoded.identifier,
            "version": encoded.version,
            "input": json.loads(encoded.input_json),
        }
    if isinstance(task, Mapping) and "identifier" in task:
        return dict(task)
    raise TypeError("task must be a Task instance or a mapping {'identifier': ..., 'input': ...}")


def submit(
    name: str,
    task: Task | Mapping[str, Any],
    max_retries: int = 0,
    *,
    callback_url: str | None = None,
    webhook_events: Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> Op[Job]:
    body: dict[str, Any] = {"name": name, "task": _task_spec(task), "max_retries": max_retries}
    if callback_url is not None:
        body["callback_url"] = callback_url
    if webhook_events is not None:
        body["webhook_events"] = list(webhook_events)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    accepted = _json((yield Request("POST", "/jobs", json=body, headers=headers)))
    return (yield from find(accepted["id"]))


def find(job_id: UUID | str | Job) -> Op[Job]:
    return job_from_json(_json((yield Request("GET", f"/jobs/{job_id_of(job_id)}"))))


def status(job_id: UUID | str | Job) -> Op[dict[str, Any]]:
    data: dict[str, Any] = _json((yield Request("GET", f"/jobs/{job_id_of(job_id)}/status")))
    return data


def tasks(job_id: UUID | str | Job) -> Op[list[TaskInfo]]:
    data = _json((yield Request("GET", f"/jobs/{job_id_of(job_id)}")))
    job = UUID(data["id"])
    return [_task_from_json(job, t) for t in data["tasks"]]


def query(
    states: Sequence[JobState | str] | None = None,
    name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> Op[list[Job]]:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("state", JobState(s).value) for s in states or ()
    ]
    if name is not None:
        params.append(("name", name))
    if since is not None:
        params.append(("since", since.isoformat()))
    if until is not None:
        params.append(("until", until.isoformat()))
    jobs: list[Job] = []
    cursor = None
    while len(jobs) < limit:
        page_params = [*params, ("limit", str(min(_PAGE, limit - len(jobs))))]
        if cursor:
            page_params.append(("cursor", cursor))
        page = _json((yield Request("GET", "/jobs", params=page_params)))
        jobs += [job_from_json(j) for j in page["jobs"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return jobs


def cancel(job_id: UUID | str | Job) -> Op[Job]:
    return job_from_json(_json((yield Request("POST", f"/jobs/{job_id_of(job_id)}/cancel"))))


def retry(job_id: UUID | str | Job) -> Op[Job]:
    return job_from_json(_json((yield Request("POST", f"/jobs/{job_id_of(job_id)}/retry"))))


def download(job_id: UUID | str | Job, name: str) -> Op[bytes]:
    """A result's bytes (by name, or by the URL a remote Job's ``blob_key`` holds)."""
    if name.startswith(("http://", "https://")):
        path = name
    else:
        path = f"/jobs/{job_id_of(job_id)}/results/{quote(name, safe='')}"
    response = yield Request("GET", path)
    raise_for_response(response)
    return response.content
