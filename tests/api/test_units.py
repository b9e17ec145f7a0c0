"""Small pieces: ETA estimates, the task catalog, cursors, the SSE decoder, bind safety."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from conveyor.api.auth import UnsafeBindError, check_bind_safety, is_loopback
from conveyor.api.catalog import TaskCatalog
from conveyor.api.errors import RequestError
from conveyor.api.eta import estimate_eta
from conveyor.api.pagination import decode_cursor, encode_cursor
from conveyor.examples import EXAMPLE_TASKS, Countdown
from conveyor.models import Job, JobState, ProgressIndicator
from conveyor.remote._sse import SSEDecoder, Watch
from conveyor.remote.errors import RemoteError
from conveyor.settings import Settings
from conveyor.store._api import TimingStats
from conveyor.workflows import Client, Task


def _job(state: JobState, progress: list[ProgressIndicator] | None = None) -> Job:
    now = datetime.fromtimestamp(1000.0, UTC)
    return Job(
        uuid.uuid4(), "j", state, now, started_at=now if state is JobState.STARTED else None,
        progress=progress or [],
    )  # fmt: skip


def test_eta() -> None:
    stats = TimingStats(avg_task_seconds=2.0, avg_job_seconds=10.0, busy_workers=2)
    assert estimate_eta(_job(JobState.QUEUED), stats, 4) == 4 * 2.0 / 2 + 10.0
    assert estimate_eta(_job(JobState.QUEUED), TimingStats(None, None, 0), 3) is None
    assert estimate_eta(_job(JobState.QUEUED), TimingStats(1.0, None, 0), 0) == 1.0
    half = [ProgressIndicator("a", 10, 5)]
    assert estimate_eta(_job(JobState.STARTED, half), stats, None, now=1004.0) == 4.0
    assert estimate_eta(_job(JobState.STARTED), stats, None, now=1004.0) == 6.0
    assert estimate_eta(_job(JobState.STARTED), stats, None, now=1020.0) == 0.0
    assert estimate_eta(_job(JobState.COMPLETED), stats, None) is None


def test_catalog() -> None:
    class Versioned(Task):
        @classmethod
        def identifier(cls) -> tuple[str, str]:
            return "Countdown", "v9"

    catalog = TaskCatalog([*EXAMPLE_TASKS, Versioned])
    with pytest.raises(RequestError) as ambiguous:
        catalog.build("Countdown", {})
    assert ambiguous.value.items[0]["loc"] == ["body", "task", "version"]
    assert catalog.build("Countdown", {"n": 2}, "v0") == Countdown(n=2)
    assert isinstance(catalog.build("Countdown", {}, "v9"), Versioned)
    with pytest.raises(RequestError) as nan:
        catalog.build("Countdown", {"delay": float("nan")}, "v0")
    assert nan.value.items[0]["loc"] == ["body", "task", "input"]
    with pytest.raises(ValueError, match="share the identifier"):

        class Clash(Task):
            @classmethod
            def identifier(cls) -> tuple[str, str]:
                return "Countdown", "v0"

        TaskCatalog([*EXAMPLE_TASKS, Clash])


def test_cursor_round_trip() -> None:
    position = (1795435484.3922913, uuid.uuid4())
    assert decode_cursor(encode_cursor(position)) == position
    for bad in ["", "!!", "W10", "bnVsbA"]:
        with pytest.raises(RequestError):
            decode_cursor(bad)


def test_exact_cursor_from_the_store(client: Client) -> None:
    job = client.jobs().submit("c", Countdown())
    ts, job_id = client.store.job_cursor(job.id)
    assert job_id == job.id and abs(ts - job.submitted_at.timestamp()) < 1e-5
    assert client.store.query_jobs(before=(ts, job_id)) == []


def test_sse_decoder() -> None:
    decoder = SSEDecoder()
    lines = [
        "retry: 250",
        "",
        ": keep-alive",
        "",
        "id: 7",
        "event: state",
        "data: {",
        "data: }",
        "",
    ]
    messages = [m for m in (decoder.feed(line) for line in lines) if m is not None]
    assert decoder.retry_ms == 250
    assert len(messages) == 1 and messages[0].id == "7" and messages[0].data == "{\n}"


def test_watch_gives_up_after_repeated_failures() -> None:
    watch = Watch(uuid.uuid4(), None, max_reconnects=2, delay=0.1)
    assert watch.interrupted("x") == 0.1 and watch.interrupted("x") == 0.2
    with pytest.raises(RemoteError, match="kept failing"):
        watch.interrupted("x")
    assert watch.ended() == 0.1


def test_bind_safety(client: Client) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    check_bind_safety(client.store, Settings(host="127.0.0.1"))
    with pytest.raises(UnsafeBindError, match="without API keys"):
        check_bind_safety(client.store, Settings(host="0.0.0.0"))
    client.store.create_api_key("t")
    check_bind_safety(client.store, Settings(host="0.0.0.0"))
    with pytest.raises(UnsafeBindError, match="loopback"):
        check_bind_safety(client.store, Settings(host="0.0.0.0", api_keys_required=False))


def test_api_keys_in_the_store(client: Client) -> None:
    store = client.store
    key, token = store.create_api_key("acme")
    assert token.startswith("cvk_") and key.prefix == token[:10] and key.tenant == "acme"
    assert store.authenticate_api_key(token) == "acme"
    assert store.authenticate_api_key(token + "x") is None
    assert store.authenticate_api_key("nope") is None
    assert store.get_tenant_secret("acme").startswith("whsec_")
    assert store.get_tenant_secret("fresh") == store.get_tenant_secret("fresh")
    assert store.revoke_api_key(token).id == key.id  # by value, too
    assert store.authenticate_api_key(token) is None
    assert store.list_api_keys("acme") == []
    assert store.list_api_keys("acme", include_revoked=True)[0].revoked_at is not None
    with pytest.raises(ValueError, match="invalid tenant name"):
        store.create_api_key("no spaces")
