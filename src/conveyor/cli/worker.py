"""``conveyor worker MODULE...``: run the Task classes those modules define until SIGTERM."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from conveyor.cli._app import app, console, escape, fail
from conveyor.cli._options import (
    BatchWaitSeconds,
    BlobsUrl,
    DatabaseUrl,
    Device,
    MaxBatchSize,
    Models,
    export_diffusion_settings,
)
from conveyor.workflows import Client, Task

__all__ = ["load_task_classes"]


def _import(target: str) -> ModuleType:
    if target.endswith(".py") or "/" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise fail(f"no such file: {target}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise fail(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise fail(f"cannot import module {target!r}: {exc}") from None


def load_task_classes(targets: list[str]) -> list[type[Task]]:
    """Import modules (dotted names or .py paths) and collect the Task classes they define."""
    found: dict[str, type[Task]] = {}
    for target in targets:
        module = _import(target)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Task) and obj is not Task and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    if not found:
        raise fail(f"no Task classes found in {', '.join(targets)}")
    return list(found.values())


@app.command()
def worker(
    modules: Annotated[list[str], typer.Argument(help="modules or .py files defining tasks")],
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    lease_seconds: Annotated[float, typer.Option(envvar="CONVEYOR_LEASE_SECONDS", min=0.1)] = 30.0,
    max_lease_losses: Annotated[int, typer.Option(envvar="CONVEYOR_MAX_LEASE_LOSSES", min=1)] = 5,
    shutdown_grace_seconds: Annotated[
        float, typer.Option(envvar="CONVEYOR_SHUTDOWN_GRACE_SECONDS", min=0)
    ] = 30.0,
    progress_interval_seconds: Annotated[
        float, typer.Option(envvar="CONVEYOR_PROGRESS_INTERVAL_SECONDS", min=0.001)
    ] = 0.1,
    retry_backoff: Annotated[float, typer.Option(min=0)] = 1.0,
    drain: Annotated[bool, typer.Option(help="exit once no runnable task is left")] = False,
    models: Models = None,
    device: Device = None,
    max_batch_size: MaxBatchSize = None,
    batch_wait_seconds: BatchWaitSeconds = None,
) -> None:
    """Run the Task classes defined in MODULES until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    export_diffusion_settings(
        models=models,
        device=device,
        max_batch_size=max_batch_size,
        batch_wait_seconds=batch_wait_seconds,
    )
    tasks = load_task_classes(modules)
    client = Client(database_url, blobs_url=blobs_url)
    runner = client.runner(
        tasks=tasks,
        lease_seconds=lease_seconds,
        max_lease_losses=max_lease_losses,
        shutdown_grace=shutdown_grace_seconds,
        progress_interval=progress_interval_seconds,
        retry_backoff=retry_backoff,
    )
    names = ", ".join(sorted(runner.registry))
    console.print(
        "[bold]worker[/] " + escape(f"{runner.worker_id} on {client.url}: {names}"), highlight=False
    )
    if drain:
        runner.run_all()
    else:
        runner.run_forever()
    console.print(f"worker stopped after {runner.executed} tasks")
