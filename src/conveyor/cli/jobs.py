"""``conveyor jobs list|show|cancel|retry``: inspect and steer jobs (embedded or remote)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from conveyor.cli._app import app, console, escape
from conveyor.cli._options import ApiKey, DatabaseUrl
from conveyor.models import Job, JobState

jobs_app = typer.Typer(help="List, inspect, cancel and retry jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


def open_jobs(database_url: str | None, api_key: str | None = None) -> Any:
    """The jobs() API of the embedded store or of a remote server (http(s) URL)."""
    from conveyor.workflows import Client

    if database_url and database_url.startswith(("http://", "https://")):
        return Client(database_url, api_key=api_key).jobs()
    return Client(database_url).jobs()


def _progress_text(job: Job) -> str:
    return ", ".join(f"{p.label or '-'} {p.done}/{p.total}" for p in job.progress) or "-"


@jobs_app.command("list")
def list_jobs(
    database_url: DatabaseUrl = None,
    api_key: ApiKey = None,
    state: Annotated[list[JobState] | None, typer.Option(help="filter by state")] = None,
    name: Annotated[str | None, typer.Option(help="filter by job name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
) -> None:
    """List jobs, newest first."""
    jobs = open_jobs(database_url, api_key).query(states=state, name=name, limit=limit)
    table = Table("id", "name", "state", "submitted", "progress")
    for job in jobs:
        table.add_row(
            str(job.id),
            escape(job.name),
            job.state.value,
            job.submitted_at.strftime("%Y-%m-%d %H:%M:%S"),
            _progress_text(job),
        )
    console.print(table)


@jobs_app.command("show")
def show(job_id: str, database_url: DatabaseUrl = None, api_key: ApiKey = None) -> None:
    """Show one job: state, times, progress, results and error."""
    job = open_jobs(database_url, api_key).find(job_id)
    console.print(f"[bold]{escape(job.name)}[/] {job.id}  [bold]{job.state.value}[/]")
    console.print(
        f"submitted {job.submitted_at}  started {job.started_at}  finished {job.finished_at}"
    )
    for p in job.progress:
        console.print(f"  {p.label or '(unnamed)'}: {p.done}/{p.total}", markup=False)
    for r in job.results:
        console.print(f"  result {r.name} ({r.content_type}, {r.size} bytes)", markup=False)
    if job.error:
        console.print(f"[red]{escape(f'{job.error.type}: {job.error.message}')}[/]")


@jobs_app.command("cancel")
def cancel(job_id: str, database_url: DatabaseUrl = None, api_key: ApiKey = None) -> None:
    """Cancel a job."""
    job = open_jobs(database_url, api_key).cancel(job_id)
    console.print(f"{job.id} {job.state.value}")


@jobs_app.command("retry")
def retry(job_id: str, database_url: DatabaseUrl = None, api_key: ApiKey = None) -> None:
    """Retry a FAILED or CANCELED job's failed tasks."""
    job = open_jobs(database_url, api_key).retry(job_id)
    console.print(f"{job.id} {job.state.value}")
