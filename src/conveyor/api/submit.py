"""Creating a job from a request, shared by ``POST /jobs`` and the ``/ws`` submit message.

Blocking (store writes, DNS for the callback check): call it in a worker thread.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel

from conveyor.api.deps import AppContext
from conveyor.api.errors import RequestError
from conveyor.api.schemas import JobRequest
from conveyor.models import Job
from conveyor.workflows.client import JobClient
from conveyor.workflows.task import Task

__all__ = [
    "check_callback_url",
    "check_idempotency_key",
    "request_hash",
    "submit_job",
    "submit_task",
]

log = logging.getLogger("conveyor.api")

_IDEMPOTENCY_KEY_MAX = 255


def _ssrf_validator() -> Callable[[str, Sequence[str]], None] | None:
    """``conveyor.notify.ssrf.validate_callback_url`` when the notify package provides it."""
    try:
        found = importlib.util.find_spec("conveyor.notify.ssrf") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        return None
    module = importlib.import_module("conveyor.notify.ssrf")
    validator: Callable[[str, Sequence[str]], None] = module.validate_callback_url
    return validator


def check_callback_url(url: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse callback URLs that are malformed or point at internal addresses (SSRF)."""
    loc = ("body", "callback_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(422, loc, "callback_url must be an absolute http(s) URL", "url_parsing")
    validator = _ssrf_validator()
    if validator is None:
        return
    try:
        validator(url, allowed_hosts)
    except ValueError as exc:
        raise RequestError(422, loc, str(exc), "url_forbidden") from exc


def request_hash(body: BaseModel) -> str:
    """A fingerprint of the request body: same key + same body returns the same job."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(key: str | None, loc: Sequence[str | int]) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= _IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise RequestError(
            422, loc, f"must be 1 to {_IDEMPOTENCY_KEY_MAX} printable characters", "value_error"
        )
    return key


def submit_job(
    ctx: AppContext,
    tenant: str,
    body: JobRequest,
    idempotency_key: str | None = None,
    *,
    key_loc: Sequence[str | int] = ("header", "Idempotency-Key"),
) -> Job:
    """Validate the task and callback, then create the job (QUEUED) for ``tenant``."""
    key = check_idempotency_key(idempotency_key, key_loc)
    task = ctx.catalog.build(body.task.identifier, body.task.input, body.task.version)
    return submit_task(
        ctx,
        tenant,
        body.name,
        task,
        max_retries=body.max_retries,
        callback_url=body.callback_url,
        webhook_events=body.webhook_events,
        idempotency_key=key,
        fingerprint=request_hash(body) if key else None,
    )


def submit_task(
    ctx: AppContext,
    tenant: str,
    name: str,
    task: Task,
    *,
    max_retries: int = 0,
    callback_url: str | None = None,
    webhook_events: Sequence[str] | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Job:
    """Create a job whose root is an already validated ``task`` (``POST /generate`` builds
    its own): the callback URL's SSRF check, idempotency and the store write.

    ``idempotency_key`` must have passed ``check_idempotency_key``; ``fingerprint`` is the
    ``request_hash`` of the body it came with.
    """
    if callback_url is not None:
        allowed = getattr(ctx.settings, "webhook_allowed_hosts", None) or []
        check_callback_url(callback_url, allowed)
    with ctx.writing():
        return JobClient(ctx.store, tenant=tenant).submit(
            name,
            task,
            max_retries,
            callback_url=callback_url,
            webhook_events=list(webhook_events) if webhook_events is not None else None,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
        )
