"""Annotated parameters the routers share: the app context, the caller's tenant, the
public URL builder and the ``Idempotency-Key`` header of submissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from conveyor.api.auth import current_tenant
from conveyor.api.deps import AppContext, Urls, get_context, urls_for

__all__ = ["Ctx", "IdempotencyKey", "Tenant", "UrlsDep"]

Ctx = Annotated[AppContext, Depends(get_context)]
Tenant = Annotated[str, Depends(current_tenant)]
UrlsDep = Annotated[Urls, Depends(urls_for)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="same key + same body returns the same job; another body is a 409",
    ),
]
