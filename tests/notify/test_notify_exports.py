"""``conveyor.notify`` exports are pinned and lazy (the store imports signing without a cycle)."""

from __future__ import annotations

import subprocess
import sys

import conveyor.notify

EXPECTED = {
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
}


def test_exports_are_pinned_and_resolve() -> None:
    assert set(conveyor.notify.__all__) == EXPECTED
    for name in conveyor.notify.__all__:
        assert getattr(conveyor.notify, name) is not None, name
    assert set(dir(conveyor.notify)) >= EXPECTED


def test_importing_signing_stays_light() -> None:
    code = (
        "import sys, conveyor.notify.signing, conveyor.notify.ssrf; "
        "loaded = [m for m in ('conveyor.notify.dispatcher', 'conveyor.notify.sender') "
        "if m in sys.modules]; "
        "print(loaded); sys.exit(bool(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
