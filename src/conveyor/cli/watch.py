"""``conveyor watch JOB``: live progress bars until the job ends, then its result or error.

The bars follow the job's events: its SSE stream against a server (resumed on reconnect),
its event log in a local database.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import typer
from rich.progress import Progress

from conveyor.cli._app import app, console, err_console, escape
from conveyor.cli._follow import follow_events
from conveyor.cli._options import ApiKey, DatabaseUrl
from conveyor.cli._target import Server, open_client
from conveyor.models import Event, Job, JobState

__all__ = ["watch_job"]

_STATUS = {
    JobState.QUEUED: "PENDING",
    JobState.STARTED: "PROCESSING",
    JobState.COMPLETED: "COMPLETED",
    JobState.FAILED: "FAILED",
    JobState.CANCELED: "CANCELED",
}


def _print_state(progress: Progress, event: Event) -> None:
    """A state event as a dim line above the bars, by its public name (PROCESSING...)."""
    state = event.data.get("state")
    status = event.data.get("status") or (_STATUS[JobState(state)] if state else "?")
    progress.console.print(f"[dim]{escape(str(status))}[/]", highlight=False)


def _print_results(client: Any, job: Job, remote: bool) -> None:
    if remote:
        result = client.jobs().status(job.id).get("result") or {}
        for f in result.get("files", []):
            console.print(
                f"result {f['name']} ({f['content_type']}, {f['size']} bytes): {f['url']}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
        for name, value in result.get("inline", {}).items():
            line = f"{name}: {json.dumps(value)}"
            console.print(line, highlight=False, soft_wrap=True, markup=False)
        return
    for r in job.results:
        console.print(
            f"result {r.name} ({r.content_type}, {r.size} bytes): {r.blob_key}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        if r.content_type.startswith("application/json") and r.size <= 65536:
            # By the blob key of the job in hand: jobs().download() would read the job again.
            text = f"{r.name}: {client.blobs.get(r.blob_key).decode()}"
            console.print(text, highlight=False, markup=False)


def watch_job(client: Any, job_id: UUID | str) -> int:
    """Follow a job to its end and print the outcome; the exit code (0 only if COMPLETED)."""
    jobs = client.jobs()
    job = jobs.find(job_id)
    remote = not hasattr(client, "store")
    console.print(f"job [bold]{job.id}[/] {job.name}", highlight=False)
    follow_events(jobs, job.id, on_state=_print_state)
    job = jobs.find(job.id)
    console.print(f"job {job.id} [bold]{_STATUS[job.state]}[/]", highlight=False)
    if job.state is JobState.COMPLETED:
        _print_results(client, job, remote)
        return 0
    if job.error:
        err_console.print(f"[red]{job.error.type}: {job.error.message}[/]", highlight=False)
    return 1


@app.command()
def watch(
    job_id: str,
    server: Server = None,
    database_url: DatabaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Show live progress of a job until it ends; exit 1 unless it COMPLETED."""
    client = open_client(server, database_url, api_key)
    raise typer.Exit(watch_job(client, job_id))
