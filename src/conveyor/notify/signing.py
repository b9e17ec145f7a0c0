"""Standard Webhooks v1 signatures: HMAC-SHA256 over ``{id}.{timestamp}.{body}``.

Receivers verify with any Standard Webhooks library (``standardwebhooks`` on PyPI,
Svix's SDKs) given the tenant's ``whsec_...`` secret; nothing here is specific to
Conveyor. The timestamp is signed so a captured request cannot be replayed after
the receiver's tolerance window, and the id is signed so a receiver can dedupe
retries of one message safely.

See https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

__all__ = [
    "SECRET_PREFIX",
    "WebhookSignatureError",
    "generate_secret",
    "sign",
    "signature_headers",
    "verify",
]

#: Prefix of a Standard Webhooks symmetric secret; the rest is base64 of the key bytes.
SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


class WebhookSignatureError(ValueError):
    """A webhook's headers are missing, stale, or carry no matching signature."""


def generate_secret() -> str:
    """A new random ``whsec_...`` secret (32 bytes, base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret must be whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64 HMAC-SHA256>`` signature of one message at one timestamp."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: str, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt (timestamp: now)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, message_id, ts, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> None:
    """Check a received webhook; raise WebhookSignatureError unless it is authentic and fresh.

    ``webhook-signature`` may hold several space-separated signatures (secret
    rotation); one matching ``v1`` signature is enough.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise WebhookSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookSignatureError(f"webhook-timestamp {timestamp!r} is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_seconds:
        raise WebhookSignatureError("webhook-timestamp is outside the tolerance window")
    expected = sign(secret, message_id, ts, body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, expected):
            return
    raise WebhookSignatureError("no matching v1 signature")
