"""``conveyor db upgrade|status|cleanup``: schema migrations and retention of a database."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from conveyor.cli._app import app, console
from conveyor.cli._options import BlobsUrl, DatabaseUrl
from conveyor.settings import env_database_url

db_app = typer.Typer(help="Migrate and clean up the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _url(database_url: str | None) -> str:
    url = database_url or env_database_url()
    if url.startswith(("http://", "https://")):
        raise typer.BadParameter("db commands need a database URL, not a server URL")
    return url


def _shown(url: str) -> str:
    from conveyor.store._pg_schema import redact

    return redact(url)


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply missing schema migrations (run once per release, before starting servers)."""
    from conveyor.store.migrate import upgrade as run_upgrade

    url = _url(database_url)
    before, after = run_upgrade(url)
    change = f"{after}, up to date" if before == after else f"{before} -> {after}"
    console.print(f"{_shown(url)}: schema version {change}", highlight=False, markup=False)


@db_app.command("status")
def status(database_url: DatabaseUrl = None) -> None:
    """Show the schema version; exit code 1 unless it is the one this Conveyor needs."""
    from conveyor.store.migrate import schema_status

    url = _url(database_url)
    state = schema_status(url)
    if state.current < state.latest:
        verdict = "run `conveyor db upgrade`"
    elif state.current > state.latest:
        verdict = "newer than this Conveyor: upgrade Conveyor"
    else:
        verdict = "up to date"
    console.print(
        f"{_shown(url)}: schema version {state.current} (this Conveyor: {state.latest}), {verdict}",
        highlight=False,
        markup=False,
    )
    if not state.up_to_date:
        raise typer.Exit(1)


@db_app.command("cleanup")
def cleanup(
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    event_retention_seconds: Annotated[
        float | None,
        typer.Option(
            envvar="CONVEYOR_EVENT_RETENTION_SECONDS",
            min=0,
            help="delete events older than this (0 keeps all; default 7 days)",
            show_default=False,
        ),
    ] = None,
    job_retention_seconds: Annotated[
        float | None,
        typer.Option(
            envvar="CONVEYOR_JOB_RETENTION_SECONDS",
            min=0,
            help="delete jobs finished longer ago, with their rows and result blobs "
            "(0 keeps all; default 30 days)",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="events per transaction")] = 1000,
    keep_blobs: Annotated[
        bool, typer.Option(help="keep the result and cache blobs of deleted jobs")
    ] = False,
) -> None:
    """Delete old events and long-finished jobs in small transactions (safe while running)."""
    from conveyor.workflows import Client

    client = Client(_url(database_url), blobs_url=blobs_url)
    blobs_deleted = 0

    def delete_blobs(job_ids: list[UUID]) -> None:
        nonlocal blobs_deleted
        for job_id in job_ids:
            blobs_deleted += client.blobs.delete_prefix(f"jobs/{job_id}/")

    try:
        counts = client.store.cleanup(  # None: the setting's default
            event_retention_seconds=event_retention_seconds,
            job_retention_seconds=job_retention_seconds,
            batch_size=batch_size,
            on_jobs_deleted=None if keep_blobs else delete_blobs,
        )
    finally:
        client.close()
    console.print(
        f"deleted {counts['jobs']} finished jobs ({blobs_deleted} blobs) "
        f"and {counts['events']} events",
        highlight=False,
    )
