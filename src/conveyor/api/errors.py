"""Every error the API returns is JSON naming what was wrong: ``{"detail": [{loc, msg, type}]}``.

The shape is FastAPI's own 422 body, used for every 4xx and 5xx so a client parses
one format; ``loc`` names the field (``["body", "task", "identifier"]``,
``["path", "job_id"]``, ``["header", "Idempotency-Key"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from conveyor.exceptions import (
    ConflictError,
    ConveyorError,
    InvalidStateError,
    JobNotFoundError,
    StoreError,
)

__all__ = ["RequestError", "error_body", "install_error_handlers"]

log = logging.getLogger("conveyor.api")

Loc = Sequence[str | int]
_UNREADABLE_BODY = "There was an error parsing the body"


class RequestError(ConveyorError, ValueError):
    """A request the API refuses, with the HTTP status and the field at fault.

    Raised below the routers too (task catalog, submission), so the CLI can print the
    same message for the same mistake without going through HTTP.
    """

    def __init__(
        self,
        status: int,
        loc: Loc,
        msg: str,
        type: str = "value_error",
        *,
        headers: dict[str, str] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.items = items or [{"loc": list(loc), "msg": msg, "type": type}]
        self.headers = headers

    def __str__(self) -> str:
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc'][1:] or item['loc'])}: {item['msg']}"
            if item["loc"]
            else item["msg"]
            for item in self.items
        )


def error_body(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": items}


def _item(loc: Loc, msg: str, type: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type}


def _json(status: int, items: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Any:
    return JSONResponse(error_body(items), status_code=status, headers=headers)


def _validation_items(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's errors without ``input``/``ctx``, which may hold values JSON cannot encode."""
    return [
        _item(list(err.get("loc", ())), str(err.get("msg", "invalid")), str(err.get("type")))
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map Conveyor's exceptions to statuses: 404 unknown (or foreign) job, 409 conflicts."""

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> Any:
        return _json(exc.status, exc.items, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Any:
        return _json(422, _validation_items(exc))

    @app.exception_handler(JobNotFoundError)
    async def _not_found(request: Request, exc: JobNotFoundError) -> Any:
        return _json(404, [_item(["path", "job_id"], str(exc), "not_found")])

    @app.exception_handler(InvalidStateError)
    async def _invalid_state(request: Request, exc: InvalidStateError) -> Any:
        return _json(409, [_item(["path", "job_id"], str(exc), "invalid_state")])

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Any:
        return _json(409, [_item(["header", "Idempotency-Key"], str(exc), "idempotency_conflict")])

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Any:
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return _json(503, [_item([], "the database is unavailable", "unavailable")])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
            # A body FastAPI cannot even decode (bytes that are not UTF-8 JSON) is invalid
            # input like any other: 422 naming the body, as every route documents.
            return _json(422, [_item(["body"], "the body is not valid JSON", "json_invalid")])
        headers = dict(exc.headers) if exc.headers else None
        return _json(exc.status_code, [_item([], str(exc.detail), "http_error")], headers)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, [_item([], "internal server error", "internal")])
