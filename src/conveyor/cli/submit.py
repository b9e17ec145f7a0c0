"""``conveyor submit IDENTIFIER --input JSON``: create a job, here or on a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from conveyor.cli._app import app, console, fail
from conveyor.cli._options import ApiKey, DatabaseUrl
from conveyor.cli._target import Server, is_remote, open_client


def _parse_input(text: str) -> dict[str, Any]:
    """``--input`` is a JSON object, or ``@path`` to a file holding one."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise fail(f"cannot read --input file: {exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise fail(f"--input is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise fail("--input must be a JSON object of the task's fields")
    return value


@app.command()
def submit(
    identifier: Annotated[str, typer.Argument(help="the task type, e.g. Countdown")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="the task's input: a JSON object, or @file")
    ] = "{}",
    name: Annotated[str | None, typer.Option(help="job name \\[default: IDENTIFIER]")] = None,
    version: Annotated[str | None, typer.Option(help="task version, if several exist")] = None,
    max_retries: Annotated[int, typer.Option(min=0, max=100)] = 0,
    callback_url: Annotated[str | None, typer.Option(help="webhook receiver URL")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="make retries safe")] = None,
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", help="task modules (embedded only) \\[default: conveyor.examples]"),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="follow the job until it ends")] = False,
    server: Server = None,
    database_url: DatabaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Submit a job; print its id (and follow it with --watch)."""
    data = _parse_input(input)
    client = open_client(server, database_url, api_key)
    spec = {"identifier": identifier, "input": data}
    if version:
        spec["version"] = version
    options: dict[str, Any] = {"callback_url": callback_url, "idempotency_key": idempotency_key}
    if is_remote(server or database_url):
        job = client.jobs().submit(name or identifier, spec, max_retries, **options)
    else:
        from conveyor.api.catalog import TaskCatalog
        from conveyor.api.submit import check_callback_url, request_hash
        from conveyor.cli.worker import load_task_classes
        from conveyor.settings import Settings

        settings = Settings()
        catalog = TaskCatalog(load_task_classes(tasks or settings.tasks))
        task = catalog.build(identifier, data, version)
        if callback_url:
            check_callback_url(callback_url, getattr(settings, "webhook_allowed_hosts", []))
        if idempotency_key:
            from conveyor.api.schemas import JobRequest

            body = JobRequest.model_validate(
                {"name": name or identifier, "task": spec, "max_retries": max_retries}
                | ({"callback_url": callback_url} if callback_url else {})
            )
            options["request_hash"] = request_hash(body)
        job = client.jobs().submit(name or identifier, task, max_retries, **options)
    console.print(str(job.id), highlight=False)
    if watch:
        from conveyor.cli.watch import watch_job

        raise typer.Exit(watch_job(client, job.id))
