"""Which outcomes are retried, and how long the dispatcher waits."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from conveyor.notify.retry import RetryPolicy, Verdict, classify, parse_retry_after


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (301, Verdict.FAIL),
        (302, Verdict.FAIL),
        (400, Verdict.FAIL),
        (401, Verdict.FAIL),
        (404, Verdict.FAIL),
        (410, Verdict.FAIL),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_classify_statuses(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_classify_errors_without_status() -> None:
    assert classify(None) is Verdict.RETRY
    assert classify(None, retryable_error=False) is Verdict.FAIL


def test_schedule_gives_len_plus_one_attempts() -> None:
    policy = RetryPolicy((5.0, 30.0, 120.0), jitter=0.0)
    assert policy.max_attempts == 4
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [5.0, 30.0, 120.0, None]
    assert RetryPolicy((), jitter=0.0).delay(1) is None


def test_jitter_stays_within_its_band() -> None:
    low = RetryPolicy((100.0,), jitter=0.2, random=lambda: 0.0)
    high = RetryPolicy((100.0,), jitter=0.2, random=lambda: 0.999999)
    assert low.delay(1) == pytest.approx(80.0)
    assert high.delay(1) == pytest.approx(120.0, rel=1e-4)


def test_retry_after_lengthens_the_wait_within_the_cap() -> None:
    policy = RetryPolicy((5.0, 60.0), jitter=0.0)
    assert policy.delay(1, status_code=429, retry_after=30.0) == 30.0
    assert policy.delay(1, status_code=503, retry_after=10_000.0) == 60.0  # capped
    assert policy.delay(1, status_code=429, retry_after=1.0) == 5.0  # never shorter
    assert policy.delay(1, status_code=500, retry_after=30.0) == 5.0  # only on 429/503


def test_parse_retry_after() -> None:
    now = time.time()
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(formatdate(now + 60, usegmt=True), now=now) == pytest.approx(60, abs=1)
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
