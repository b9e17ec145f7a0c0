"""Where a client command sends its requests: a server (``--server``) or the database."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = ["Server", "is_remote", "open_client"]

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="CONVEYOR_SERVER",
        help="http(s) URL of a `conveyor serve` (else --database-url is used directly)",
        show_default=False,
    ),
]


def is_remote(url: str | None) -> bool:
    return url is not None and url.startswith(("http://", "https://"))


def open_client(server: str | None, database_url: str | None, api_key: str | None) -> Any:
    """A RemoteClient for a server URL, else the embedded Client of the database."""
    from conveyor.remote import RemoteClient
    from conveyor.workflows import Client

    url = server or database_url
    if url is not None and is_remote(url):
        return RemoteClient(url, api_key=api_key)
    return Client(url)
