"""``GET /tasks``: the task types this server accepts, with their input JSON schemas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from conveyor.api.auth import current_tenant
from conveyor.api.deps import AppContext, get_context
from conveyor.api.schemas import ErrorResponse, TaskDescription

__all__ = ["router"]

router = APIRouter(tags=["tasks"])


@router.get(
    "/tasks",
    response_model=list[TaskDescription],
    summary="List accepted task types",
    responses={401: {"model": ErrorResponse, "description": "missing or invalid API key"}},
)
def list_tasks(
    ctx: Annotated[AppContext, Depends(get_context)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> list[TaskDescription]:
    """What ``POST /jobs`` accepts as ``task.identifier`` (and ``task.version``)."""
    return [
        TaskDescription(
            identifier=name, version=version, input_schema=ctx.catalog.input_schema(cls)
        )
        for name, version, cls in ctx.catalog
    ]
