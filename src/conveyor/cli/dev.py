"""``conveyor dev [MODULES...]``: the API and one worker in one command, for local use."""

from __future__ import annotations

import subprocess
import sys

from conveyor.cli._app import app, err_console
from conveyor.cli._options import (
    BatchWaitSeconds,
    BlobsUrl,
    DatabaseUrl,
    Device,
    MaxBatchSize,
    Models,
    export_diffusion_settings,
)
from conveyor.cli._server import (
    Host,
    LogLevel,
    Notifier,
    Port,
    PublicUrl,
    build_settings,
    run_server,
)
from conveyor.cli.serve import Modules
from conveyor.cli.worker import load_task_classes


@app.command()
def dev(
    modules: Modules = None,
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    public_url: PublicUrl = None,
    notifier: Notifier = None,
    log_level: LogLevel = "info",
    models: Models = None,
    device: Device = None,
    max_batch_size: MaxBatchSize = None,
    batch_wait_seconds: BatchWaitSeconds = None,
) -> None:
    """Serve the API and run one worker (a child process) on the same database."""
    from conveyor.api.app import effective_blobs_url

    # The worker inherits them; the API validates requests against the models.
    export_diffusion_settings(
        models=models,
        device=device,
        max_batch_size=max_batch_size,
        batch_wait_seconds=batch_wait_seconds,
    )

    settings = build_settings(
        host=host,
        port=port,
        database_url=database_url,
        blobs_url=blobs_url,
        public_url=public_url,
        notifier=notifier,
    )
    targets = modules or settings.tasks
    tasks = load_task_classes(targets)
    blobs = effective_blobs_url(settings)
    settings = settings.model_copy(update={"blobs_url": blobs})
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conveyor.cli",
            "worker",
            *targets,
            "--database-url",
            settings.database_url,
            "--blobs-url",
            blobs,
        ]
    )
    try:
        run_server(settings, tasks, log_level)
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                err_console.print("worker did not stop in 15 s: killing it")
                worker.kill()
                worker.wait()
