"""``/healthz`` (liveness plus a database round trip) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from conveyor import __version__
from conveyor.api.deps import AppContext, get_context
from conveyor.api.schemas import ErrorResponse, Health

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Health check",
    responses={503: {"model": ErrorResponse, "description": "the database is unavailable"}},
)
def healthz(ctx: Annotated[AppContext, Depends(get_context)]) -> Health:
    """OK when this server reads the database within 2 s; else 503 at once (no retries)."""
    ctx.store.ping(timeout=2.0)
    return Health(status="ok", version=__version__)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Requests, event subscribers and webhook outcomes of this process; jobs per state and
    task durations of the whole database."""
    body = generate_latest(REGISTRY) + generate_latest(request.app.state.store_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
