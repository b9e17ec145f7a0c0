"""Options shared by commands: each setting is ``--<name>`` and ``CONVEYOR_<NAME>``."""

from __future__ import annotations

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
