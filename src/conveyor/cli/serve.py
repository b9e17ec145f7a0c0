"""``conveyor serve [MODULES...]``: the HTTP API (FastAPI on uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._app import app
from conveyor.cli._options import BlobsUrl, DatabaseUrl, Models, export_diffusion_settings
from conveyor.cli._server import (
    Host,
    LogLevel,
    Notifier,
    Port,
    PublicUrl,
    build_settings,
    run_server,
)
from conveyor.cli.worker import load_task_classes

Modules = Annotated[
    list[str] | None,
    typer.Argument(
        help="modules or .py files whose Task classes the API accepts "
        "\\[default: CONVEYOR_TASKS, else conveyor.examples,conveyor.diffusion.tasks]",
        show_default=False,
    ),
]


@app.command()
def serve(
    modules: Modules = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    public_url: PublicUrl = None,
    notifier: Notifier = None,
    log_level: LogLevel = "info",
    models: Models = None,
) -> None:
    """Serve the HTTP API; run workers separately (`conveyor worker`).

    Bound to a loopback address with no API key, requests need no key (dev mode);
    any other address requires keys (`conveyor keys create`).
    """
    export_diffusion_settings(models=models)  # requests are validated against them
    settings = build_settings(
        host=host,
        port=port,
        database_url=database_url,
        blobs_url=blobs_url,
        public_url=public_url,
        notifier=notifier,
    )
    tasks = load_task_classes(modules or settings.tasks)
    run_server(settings, tasks, log_level)
