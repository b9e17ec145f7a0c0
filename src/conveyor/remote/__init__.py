"""The HTTP client: a Conveyor server behind the same ``jobs()`` API as the embedded client.

``Client("http://host:8000", api_key=...)`` returns a ``RemoteClient``;
``AsyncClient`` offers the same methods as coroutines.
"""

from __future__ import annotations

from conveyor.remote.aio import AsyncClient, AsyncJobClient
from conveyor.remote.client import RemoteClient, RemoteJobClient
from conveyor.remote.errors import AuthenticationError, RemoteError, RemoteValidationError

__all__ = [
    "AsyncClient",
    "AsyncJobClient",
    "AuthenticationError",
    "RemoteClient",
    "RemoteError",
    "RemoteJobClient",
    "RemoteValidationError",
]
