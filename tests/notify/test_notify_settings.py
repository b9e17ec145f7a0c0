"""Webhook settings read from the environment: comma-separated or JSON lists."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conveyor.settings import Settings


def test_comma_separated_and_json_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_WEBHOOK_ALLOWED_HOSTS", " 127.0.0.1, 10.0.0.0/8 ,hooks.internal")
    monkeypatch.setenv("CONVEYOR_WEBHOOK_RETRY_SCHEDULE", "0.5,2,10")
    settings = Settings()
    assert settings.webhook_allowed_hosts == ["127.0.0.1", "10.0.0.0/8", "hooks.internal"]
    assert settings.webhook_retry_schedule == [0.5, 2.0, 10.0]
    monkeypatch.setenv("CONVEYOR_WEBHOOK_ALLOWED_HOSTS", '["::1"]')
    monkeypatch.setenv("CONVEYOR_WEBHOOK_RETRY_SCHEDULE", "[]")
    settings = Settings()
    assert settings.webhook_allowed_hosts == ["::1"]
    assert settings.webhook_retry_schedule == []


def test_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALLOWED_HOSTS", "RETRY_SCHEDULE", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"CONVEYOR_WEBHOOK_{name}", raising=False)
    settings = Settings()
    assert settings.webhook_allowed_hosts == []
    assert settings.webhook_retry_schedule[:3] == [5, 30, 120]
    assert settings.webhook_timeout_seconds > 0
    with pytest.raises(ValidationError):
        Settings(webhook_retry_schedule="5,-1")
    with pytest.raises(ValidationError):
        Settings(webhook_timeout_seconds=0)
