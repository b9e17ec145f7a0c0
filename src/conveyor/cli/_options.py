"""Options shared by commands: each setting is ``--<name>`` and ``CONVEYOR_<NAME>``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CONVEYOR_DATABASE_URL",
        help="sqlite:///path.db (default ./conveyor.db), postgresql://... or http(s)://server",
        show_default=False,
    ),
]
BlobsUrl = Annotated[
    str | None,
    typer.Option(
        "--blobs-url",
        envvar="CONVEYOR_BLOBS_URL",
        help="file:///dir (default: beside the database) or s3://bucket/prefix",
        show_default=False,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", envvar="CONVEYOR_API_KEY", help="API key for an http(s) server"),
]
Models = Annotated[
    str | None,
    typer.Option(
        "--models",
        envvar="CONVEYOR_MODELS",
        help='diffusion: JSON {"name": "/local/diffusers/folder"} (nothing is downloaded)',
        show_default=False,
    ),
]
Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        envvar="CONVEYOR_DEVICE",
        help="diffusion: cpu, cuda, cuda:1 ... \\[default: CUDA if visible, else CPU]",
        show_default=False,
    ),
]
MaxBatchSize = Annotated[
    int | None,
    typer.Option(
        "--max-batch-size",
        envvar="CONVEYOR_MAX_BATCH_SIZE",
        min=1,
        max=256,
        help="diffusion: image tasks per model call (1: no batching) \\[default: 8]",
        show_default=False,
    ),
]
BatchWaitSeconds = Annotated[
    float | None,
    typer.Option(
        "--batch-wait-seconds",
        envvar="CONVEYOR_BATCH_WAIT_SECONDS",
        min=0,
        max=10,
        help="diffusion: how long a batch that is not full waits for more image tasks "
        "\\[default: 0]",
        show_default=False,
    ),
]


def export_diffusion_settings(
    *,
    models: str | None = None,
    device: str | None = None,
    max_batch_size: int | None = None,
    batch_wait_seconds: float | None = None,
) -> None:
    """Hand diffusion settings given as flags to the diffusion layer.

    That layer reads ``CONVEYOR_MODELS``, ``CONVEYOR_DEVICE``, ``CONVEYOR_MAX_BATCH_SIZE`` and
    ``CONVEYOR_BATCH_WAIT_SECONDS`` from the environment when its tasks are imported and its
    first model loads, so the flags go there before the command imports any task module; a
    worker this process starts inherits them. A malformed ``--models`` fails now, not at the
    first request.
    """
    if models is not None:
        from conveyor.diffusion import parse_models_setting

        parse_models_setting(models)
        os.environ["CONVEYOR_MODELS"] = models
    if device is not None:
        os.environ["CONVEYOR_DEVICE"] = device
    if max_batch_size is not None:
        os.environ["CONVEYOR_MAX_BATCH_SIZE"] = str(max_batch_size)
    if batch_wait_seconds is not None:
        os.environ["CONVEYOR_BATCH_WAIT_SECONDS"] = repr(batch_wait_seconds)
