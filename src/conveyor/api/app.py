"""``create_app``: the FastAPI application of ``conveyor serve``.

One app = one store, one blob store, one event hub, the task catalog, and (unless
``notifier`` is off) the webhook dispatcher thread. All job state lives in the
database, so any number of these processes can serve one deployment.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from conveyor import __version__
from conveyor.api.auth import check_bind_safety
from conveyor.api.catalog import TaskCatalog, tasks_from_modules
from conveyor.api.deps import AppContext
from conveyor.api.errors import install_error_handlers
from conveyor.api.events import EventHub
from conveyor.api.metrics import MetricsMiddleware, store_registry
from conveyor.api.routers import events, generate, health, jobs, results, ws
from conveyor.api.routers import tasks as task_types
from conveyor.api.schemas import ErrorResponse, EventOut
from conveyor.blobs import BlobStore, open_blobs
from conveyor.settings import Settings
from conveyor.store import Store, open_store
from conveyor.workflows.client import blobs_url_for
from conveyor.workflows.task import Task

__all__ = ["create_app", "effective_blobs_url"]

log = logging.getLogger("conveyor.api")

_DESCRIPTION = """\
Long jobs behind an asynchronous API. `POST /jobs` answers `202 Accepted` at once;
follow the job by polling `GET /jobs/{id}/status`, by Server-Sent Events
(`GET /jobs/{id}/events`, resumable with `Last-Event-ID`), by WebSocket
(`/jobs/{id}/ws`, or `/ws` to submit and follow on one connection), or by signed
webhooks to a `callback_url`. Authenticate with `Authorization: Bearer cvk_...`.
Every error is `{"detail": [{"loc", "msg", "type"}]}` with `loc` naming the field.
"""


_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"}
}


def effective_blobs_url(settings: Settings) -> str:
    """The blob store workers of this database use: explicit, or beside the database."""
    if "blobs_url" in settings.model_fields_set:
        return settings.blobs_url
    return blobs_url_for(settings.database_url)


def _optional(module: str) -> Any | None:
    """Import a module another part of Conveyor may not provide yet (None if absent)."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(module)


def _start_dispatcher(store: Store, settings: Settings) -> Any | None:
    module = _optional("conveyor.notify.dispatcher")
    if module is None:
        log.warning("webhook dispatcher unavailable (conveyor.notify is not installed)")
        return None
    dispatcher = module.Dispatcher(store, settings)
    dispatcher.start()
    return dispatcher


def create_app(
    settings: Settings | None = None,
    tasks: Sequence[type[Task]] | None = None,
    *,
    store: Store | None = None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    """The API for ``settings`` (default: from the environment) accepting ``tasks``
    (default: the Task classes of the ``settings.tasks`` modules)."""
    settings = settings or Settings()
    task_classes = list(tasks) if tasks is not None else tasks_from_modules(settings.tasks)
    owns_store = store is None
    store = store or open_store(settings.database_url)
    blobs = blobs or open_blobs(effective_blobs_url(settings))
    hub = EventHub(store, interval=settings.event_poll_interval)
    ctx = AppContext(settings, store, blobs, TaskCatalog(task_classes), hub)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(check_bind_safety, store, settings)
        await hub.start()
        dispatcher = _start_dispatcher(store, settings) if settings.notifier else None
        try:
            yield
        finally:
            if dispatcher is not None:
                await run_in_threadpool(dispatcher.stop)
            await hub.stop()
            if owns_store:
                store.close()

    app = FastAPI(
        title="Conveyor",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "submit, poll, list, cancel and retry jobs"},
            {"name": "generate", "description": "image generation jobs and their previews"},
            {"name": "events", "description": "live progress and state changes"},
            {"name": "results", "description": "result downloads"},
            {"name": "tasks", "description": "the task types this server accepts"},
            {"name": "operations", "description": "health and metrics"},
        ],
    )
    app.state.conveyor = ctx
    app.state.store_metrics = store_registry(store)
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    for router in (jobs.router, events.router, results.router, task_types.router, ws.router):
        app.include_router(router)
    app.include_router(generate.router)  # POST /generate: diffusion jobs (torch-free here)
    deliveries = _optional("conveyor.api.routers.deliveries")
    if deliveries is not None:  # the webhook delivery log (conveyor.notify), same auth
        app.include_router(deliveries.router, responses=_AUTH_ERRORS)
    app.include_router(health.router)
    _document_events(app)
    return app


def _document_events(app: FastAPI) -> None:
    """Add ``EventOut`` (the JSON of each SSE ``data:`` line and WebSocket message) to the
    OpenAPI components: no JSON route returns it, so FastAPI would leave it out."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if "EventOut" not in schemas:
            schemas["EventOut"] = EventOut.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
