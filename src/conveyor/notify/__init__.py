"""Webhooks: signed (Standard Webhooks) deliveries of job events from the outbox, with retries
and an SSRF guard on callback URLs.

Exports are lazy, so ``conveyor.notify.signing`` (which the store uses to mint
secrets) can be imported without pulling in httpx or the store itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.notify.dispatcher import Dispatcher
    from conveyor.notify.payload import webhook_body
    from conveyor.notify.retry import RetryPolicy, Verdict, classify
    from conveyor.notify.signing import (
        WebhookSignatureError,
        generate_secret,
        sign,
        signature_headers,
        verify,
    )
    from conveyor.notify.ssrf import (
        AllowList,
        UnresolvableHostError,
        UnsafeCallbackURLError,
        resolve_callback_url,
        validate_callback_url,
    )

__all__ = [
    "AllowList",
    "Dispatcher",
    "RetryPolicy",
    "UnresolvableHostError",
    "UnsafeCallbackURLError",
    "Verdict",
    "WebhookSignatureError",
    "classify",
    "generate_secret",
    "resolve_callback_url",
    "sign",
    "signature_headers",
    "validate_callback_url",
    "verify",
    "webhook_body",
]

_MODULES = {
    "Dispatcher": "dispatcher",
    "webhook_body": "payload",
    "RetryPolicy": "retry",
    "Verdict": "retry",
    "classify": "retry",
    "WebhookSignatureError": "signing",
    "generate_secret": "signing",
    "sign": "signing",
    "signature_headers": "signing",
    "verify": "signing",
    "AllowList": "ssrf",
    "UnresolvableHostError": "ssrf",
    "UnsafeCallbackURLError": "ssrf",
    "resolve_callback_url": "ssrf",
    "validate_callback_url": "ssrf",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'conveyor.notify' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"conveyor.notify.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
