"""API keys: who is calling (their tenant), and whether a server may run without keys.

``Authorization: Bearer cvk_...`` on every request (WebSockets may instead pass
``?api_key=``, since browsers cannot set headers there). Dev mode: a server bound
to a loopback address with no API key created yet treats anonymous requests as
tenant ``default``; as soon as a key exists, keys are required. A server bound to
any other address refuses to start without a key.

A server remembers a key it accepted for ``auth_cache_seconds`` (default 1 s), so
a busy client costs one key lookup per second instead of one per request (and
no trip to a worker thread); a revoked key is refused within that time.
"""

from __future__ import annotations

import ipaddress
import time

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from conveyor.api.deps import AppContext, get_context
from conveyor.api.errors import RequestError
from conveyor.exceptions import ConveyorError
from conveyor.settings import Settings
from conveyor.store import Store

__all__ = [
    "DEFAULT_TENANT",
    "UnsafeBindError",
    "check_bind_safety",
    "current_tenant",
    "is_loopback",
    "keys_required",
    "tenant_for_token",
    "websocket_token",
]

DEFAULT_TENANT = "default"
#: How long a server trusts its count of API keys (deciding dev mode) before re-reading it.
_KEY_COUNT_TTL = 2.0
_AUTH_CACHE_SIZE = 10_000

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `conveyor keys create --tenant NAME`: "
    "`Authorization: Bearer cvk_...`. Optional on a loopback server with no keys (dev mode).",
)


class UnsafeBindError(ConveyorError):
    """The server would accept anonymous requests from the network."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_safety(store: Store, settings: Settings) -> None:
    """Refuse to serve a non-loopback address without API keys (raises UnsafeBindError)."""
    if is_loopback(settings.host):
        return
    if settings.api_keys_required is False:
        raise UnsafeBindError(
            f"refusing to serve {settings.host} with CONVEYOR_API_KEYS_REQUIRED=false: "
            "anonymous access is only allowed on a loopback address (127.0.0.1)"
        )
    if store.count_api_keys() == 0:
        raise UnsafeBindError(
            f"refusing to serve {settings.host} without API keys: create one with "
            "`conveyor keys create --tenant NAME`, or bind 127.0.0.1 for local use"
        )


def keys_required(ctx: AppContext) -> bool:
    """Whether anonymous requests are refused (blocking: reads the key count when stale)."""
    setting = ctx.settings.api_keys_required
    if setting is not None:
        return setting
    if not is_loopback(ctx.settings.host):
        return True
    expires, count = ctx.key_count_cache
    now = time.monotonic()
    if now >= expires:
        count = ctx.store.count_api_keys()
        ctx.key_count_cache = (now + _KEY_COUNT_TTL, count)
    return count > 0


def _cached_tenant(ctx: AppContext, token: str | None) -> str | None:
    """The tenant if it can be decided without the database (fresh caches), else None."""
    now = time.monotonic()
    if token:
        hit = ctx.auth_cache.get(token)
        return hit[1] if hit is not None and hit[0] > now else None
    setting = ctx.settings.api_keys_required
    if setting is False or (setting is None and is_loopback(ctx.settings.host)):
        expires, count = ctx.key_count_cache
        if now < expires and count == 0:
            return DEFAULT_TENANT
    return None


def tenant_for_token(ctx: AppContext, token: str | None) -> str:
    """The caller's tenant (blocking). RequestError 401 for a bad key, or a missing one
    when keys are required; a bad key is refused even in dev mode."""
    if token:
        tenant = ctx.store.authenticate_api_key(token)
        if tenant is None:
            raise _unauthorized("invalid or revoked API key")
        ttl = ctx.settings.auth_cache_seconds
        if ttl > 0:
            if len(ctx.auth_cache) >= _AUTH_CACHE_SIZE:
                ctx.auth_cache.clear()
            ctx.auth_cache[token] = (time.monotonic() + ttl, tenant)
        return tenant
    if keys_required(ctx):
        raise _unauthorized("an API key is required: Authorization: Bearer cvk_...")
    return DEFAULT_TENANT


def _unauthorized(msg: str) -> RequestError:
    return RequestError(
        401,
        ["header", "Authorization"],
        msg,
        "unauthorized",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_tenant(
    conn: HTTPConnection,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ctx: AppContext = Depends(get_context),
) -> str:
    """FastAPI dependency: the tenant name of the request's API key (401 if refused)."""
    token = credentials.credentials if credentials is not None else None
    cached = _cached_tenant(ctx, token)
    if cached is not None:
        return cached
    return await run_in_threadpool(tenant_for_token, ctx, token)


def websocket_token(conn: HTTPConnection) -> str | None:
    """A WebSocket's API key: the Authorization header, else the ``api_key`` query param."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.query_params.get("api_key") or None
