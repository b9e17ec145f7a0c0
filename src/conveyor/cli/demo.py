"""``conveyor demo``: run the example workflow on the embedded default with live progress."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from conveyor.cli._app import app, console
from conveyor.cli._options import BlobsUrl, DatabaseUrl
from conveyor.examples import EXAMPLE_TASKS, Countdown
from conveyor.models import Job
from conveyor.workflows import Client


def follow(find: object, job_id: object, interval: float = 0.1) -> Job:
    """Show rich progress bars per indicator until the job ends; return the final job."""
    bars: dict[str | None, int] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        while True:
            job: Job = find(job_id)  # type: ignore[operator]
            for p in job.progress:
                if p.label not in bars:
                    bars[p.label] = progress.add_task(p.label or "progress", total=p.total)
                progress.update(bars[p.label], total=p.total, completed=p.done)
            if job.state.terminal:
                return job
            time.sleep(interval)


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    ticks: Annotated[int, typer.Option(min=1, max=1000)] = 8,
    steps: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Submit the example countdown job, run it with a local worker, show live progress."""
    client = Client(database_url, blobs_url=blobs_url)
    jobs = client.jobs()
    job = jobs.submit("countdown", Countdown(n=ticks, steps=steps, delay=0.02))
    console.print(f"submitted job [bold]{job.id}[/] to {client.url}", highlight=False)
    runner = client.runner(tasks=EXAMPLE_TASKS)
    thread = threading.Thread(target=runner.run_all, daemon=True)
    thread.start()
    final = follow(jobs.find, job.id)
    thread.join()
    console.print(f"job {final.id} [bold]{final.state.value}[/]")
    for result in final.results:
        console.print(f"result {result.name}: {client.blobs.get(result.blob_key).decode()}")
    if final.error:
        console.print(f"[red]{final.error.type}: {final.error.message}[/]")
        raise typer.Exit(1)
