"""Errors of the HTTP client: the server's refusals as Conveyor's own exception types.

404 is ``JobNotFoundError`` and 409 ``InvalidStateError``/``ConflictError``, exactly
what the embedded client raises, so code works the same against either.
"""

from __future__ import annotations

from typing import Any

import httpx

from conveyor.exceptions import (
    ConflictError,
    ConveyorError,
    InvalidStateError,
    JobNotFoundError,
    ResultNotFoundError,
)

__all__ = ["AuthenticationError", "RemoteError", "RemoteValidationError", "raise_for_response"]


class RemoteError(ConveyorError):
    """The server answered with an error (or could not be reached: ``status`` 0)."""

    def __init__(self, message: str, status: int = 0, detail: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or []


class AuthenticationError(RemoteError, PermissionError):
    """The API key is missing, invalid or revoked (401)."""


class RemoteValidationError(RemoteError, ValueError):
    """The server refused the request's content (422); ``detail`` names the fields."""


def _detail(response: httpx.Response) -> list[Any]:
    try:
        body = response.json()
    except ValueError:
        return []
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return detail
    return [{"loc": [], "msg": str(detail), "type": "error"}] if detail else []


def _message(detail: list[Any], response: httpx.Response) -> str:
    parts = []
    for item in detail:
        if isinstance(item, dict):
            loc = ".".join(str(p) for p in item.get("loc", [])[1:] or item.get("loc", []))
            parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
    return "; ".join(parts) or f"HTTP {response.status_code}"


def raise_for_response(response: httpx.Response) -> None:
    """Raise the Conveyor exception for an error response; return for a success."""
    if response.is_success:
        return
    detail = _detail(response)
    message = _message(detail, response)
    status = response.status_code
    types = {item.get("type") for item in detail if isinstance(item, dict)}
    locs = [item.get("loc") for item in detail if isinstance(item, dict)]
    if status == 404 and ["path", "job_id"] in locs:
        raise JobNotFoundError(message)
    if status == 404 and ["path", "name"] in locs:
        raise ResultNotFoundError(message)
    if status == 409:
        if "idempotency_conflict" in types:
            raise ConflictError(message)
        raise InvalidStateError(message)
    if status == 401:
        raise AuthenticationError(message, status, detail)
    if status == 422:
        raise RemoteValidationError(message, status, detail)
    raise RemoteError(
        f"{response.request.method} {response.request.url}: {message}", status, detail
    )
