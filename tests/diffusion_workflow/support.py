"""Helpers of the generation workflow tests: run jobs to their end and read what they left."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from conveyor.diffusion import ModelRegistry
from conveyor.diffusion.tasks import DIFFUSION_TASKS, Generate
from conveyor.diffusion.validation import generation_task
from conveyor.models import Job
from conveyor.workflows import Client


def make_task(registry: ModelRegistry, **fields: Any) -> Generate:
    """A validated root task, as ``POST /generate`` builds it."""
    fields.setdefault("prompt", None if "prompts" in fields else "7")
    return generation_task(registry, **fields)


def run_jobs(client: Client, *tasks: Generate, **runner_options: Any) -> list[Job]:
    """Submit one job per task, drain the queue with one runner, return the final jobs."""
    jobs = client.jobs()
    ids = [jobs.submit("generate", task).id for task in tasks]
    client.runner(tasks=DIFFUSION_TASKS, **runner_options).run_all()
    return [jobs.find(job_id) for job_id in ids]


def result(client: Client, job: Job, name: str) -> bytes:
    found = next((r for r in job.results if r.name == name), None)
    assert found is not None, f"job {job.id} has no result {name}: {job.results}"
    return client.blobs.get(found.blob_key)


def metadata(client: Client, job: Job) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result(client, job, "generation.json"))
    return data


def events(client: Client, job_id: UUID, type: str) -> list[dict[str, Any]]:
    return [e.data for e in client.store.events_after(job_id, 0, 10_000) if e.type == type]
