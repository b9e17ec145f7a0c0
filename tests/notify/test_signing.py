"""Signatures interoperate with the reference ``standardwebhooks`` package, both ways."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conveyor.notify.signing import (
    SECRET_PREFIX,
    WebhookSignatureError,
    generate_secret,
    sign,
    signature_headers,
    verify,
)

BODY = json.dumps({"type": "job.completed", "data": {"job_id": "j"}}).encode()


def test_generated_secret_is_whsec_base64_of_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 32
    assert generate_secret() != secret


def test_reference_library_verifies_our_headers() -> None:
    secret = generate_secret()
    headers = signature_headers(secret, "msg_1", BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_our_signature_equals_the_reference_signature() -> None:
    secret = generate_secret()
    ts = int(time.time())
    expected = Webhook(secret).sign("msg_2", datetime.fromtimestamp(ts, UTC), BODY.decode())
    assert sign(secret, "msg_2", ts, BODY) == expected


def test_tampered_body_or_id_fails_reference_verification() -> None:
    secret = generate_secret()
    headers = signature_headers(secret, "msg_3", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_other"})
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_verify_accepts_any_matching_signature_and_checks_freshness() -> None:
    secret, old = generate_secret(), generate_secret()
    headers = signature_headers(secret, "msg_4", BODY)
    rotated = {
        **headers,
        "webhook-signature": f"{sign(old, 'msg_4', int(headers['webhook-timestamp']), BODY)} "
        f"{headers['webhook-signature']}",
    }
    verify(secret, rotated, BODY)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(secret, headers, BODY, now=time.time() + 3600)
    with pytest.raises(WebhookSignatureError, match="missing"):
        verify(secret, {"webhook-id": "msg_4"}, BODY)
    with pytest.raises(WebhookSignatureError, match="no matching"):
        verify(secret, headers, b"{}")


def test_malformed_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sign("whsec_!!not base64!!", "msg", 0, b"")
    with pytest.raises(ValueError, match="empty"):
        sign("whsec_", "msg", 0, b"")
