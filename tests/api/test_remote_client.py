"""Client("http://...") and AsyncClient: the embedded jobs() API over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor import AsyncClient, Client, JobNotFoundError, ResultNotFoundError
from conveyor.examples import Countdown, Fail, NoOp, Sleep
from conveyor.exceptions import ConflictError, InvalidStateError
from conveyor.models import JobState
from conveyor.remote import AuthenticationError, RemoteClient, RemoteError, RemoteValidationError
from conveyor.store import open_store
from plugins.api import ApiEnv, Processes


class CutStreams(httpx.BaseTransport):
    """Breaks each event stream after a few lines, as a flaky network would."""

    def __init__(self, lines: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.lines = lines
        self.cuts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/events"):
            return response
        transport = self

        class Cut(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                seen = 0
                for chunk in response.stream:
                    yield chunk
                    seen += chunk.count(b"\n\n")
                    if seen >= transport.lines:
                        transport.cuts += 1
                        raise httpx.ReadError("connection reset (test)")

            def close(self) -> None:
                response.close()

        return httpx.Response(response.status_code, headers=response.headers, stream=Cut())


def test_remote_client_mirrors_embedded(api: ApiEnv) -> None:
    client = Client(api.url, api_key=api.keys["alice"])
    assert isinstance(client, RemoteClient)
    with client:
        jobs = client.jobs()
        job = jobs.submit("remote", Countdown(n=2, steps=2, delay=0.01), max_retries=1)
        # a worker may already have claimed it when the 202 comes back
        assert job.state in (JobState.QUEUED, JobState.STARTED)
        assert job.name == "remote" and job.tenant == "alice"
        events = list(jobs.watch(job))
        assert events[-1].data["state"] == "COMPLETED"
        done = jobs.find(job.id)
        assert done.state is JobState.COMPLETED and done.finished_at is not None
        assert [(p.label, p.done, p.total) for p in done.progress] == [
            ("count", 4, 4),
            ("verify", 2, 2),
        ]
        [result] = done.results
        assert jobs.download(job, result.name) == b'{"ticks": 2, "steps": 4}'
        assert jobs.download(job, result.blob_key) == b'{"ticks": 2, "steps": 4}'
        with pytest.raises(ResultNotFoundError, match="has no result"):
            jobs.download(job, "nope.json")  # as the embedded client raises
        assert [t.identifier for t in jobs.tasks(job)][:2] == ["Countdown", "Tick"]
        assert jobs.status(job)["result"]["inline"]["summary.json"] == {"ticks": 2, "steps": 4}

        assert job.id in {j.id for j in jobs.query(states=[JobState.COMPLETED], name="remote")}
        assert jobs.query(name="remote", limit=1)[0].name == "remote"
        with pytest.raises(InvalidStateError):
            jobs.cancel(job)
        with pytest.raises(JobNotFoundError):
            jobs.find("00000000-0000-4000-8000-000000000000")
        with pytest.raises(RemoteValidationError) as invalid:
            jobs.submit("bad", {"identifier": "Countdown", "input": {"n": "x"}})
        assert invalid.value.detail[0]["loc"] == ["body", "task", "input", "n"]

        sleeper = jobs.submit("s", Sleep(seconds=30, steps=300))
        assert jobs.cancel(sleeper).state is JobState.CANCELED
        assert jobs.retry(sleeper).state in (JobState.QUEUED, JobState.STARTED)
        jobs.cancel(sleeper)

        first = jobs.submit("idem", NoOp(), idempotency_key="remote-1")
        assert jobs.submit("idem", NoOp(), idempotency_key="remote-1").id == first.id
        with pytest.raises(ConflictError):
            jobs.submit("other", NoOp(), idempotency_key="remote-1")


def test_watch_resumes_after_broken_streams(api: ApiEnv) -> None:
    cut = CutStreams(lines=2)
    with RemoteClient(api.url, api_key=api.keys["alice"], transport=cut) as client:
        jobs = client.jobs()
        job = jobs.submit("flaky", Sleep(seconds=1, steps=10))
        events = list(jobs.watch(job, reconnect_delay=0.05))
    assert cut.cuts >= 2
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))
    with Client(api.url, api_key=api.keys["alice"]) as clean:
        assert ids == [e.id for e in clean.jobs().watch(job)]
    assert events[-1].data["status"] == "COMPLETED"
    with Client(api.url, api_key=api.keys["alice"]) as clean:
        assert list(clean.jobs().watch(job, last_event_id=ids[-1])) == []
        assert [e.id for e in clean.jobs().watch(job, last_event_id=ids[-2])] == ids[-1:]


def test_remote_errors(api: ApiEnv) -> None:
    with Client(api.url, api_key="cvk_wrong") as client, pytest.raises(AuthenticationError):
        client.jobs().query()
    with Client("http://127.0.0.1:9") as client, pytest.raises(RemoteError, match="cannot reach"):
        client.jobs().find("00000000-0000-4000-8000-000000000000")
    with Client(api.url, api_key=api.keys["alice"]) as client:
        with pytest.raises(TypeError):
            client.runner(tasks=[NoOp])
        with pytest.raises(JobNotFoundError):
            list(client.jobs().watch("00000000-0000-4000-8000-000000000000"))


def test_async_client(api: ApiEnv) -> None:
    async def main() -> dict[str, Any]:
        async with AsyncClient(api.url, api_key=api.keys["bob"]) as client:
            jobs = client.jobs()
            ok = await jobs.submit("async", Countdown(n=1, steps=2, delay=0.01))
            bad = await jobs.submit("async-fail", Fail(message="async boom"))
            events = [e async for e in jobs.watch(ok.id)]
            failed = [e async for e in jobs.watch(bad)]
            return {
                "events": events,
                "failed": failed,
                "ok": await jobs.find(ok),
                "bad": await jobs.find(bad.id),
                "listed": await jobs.query(name="async"),
                "tasks": await jobs.tasks(ok),
                "download": await jobs.download(ok, "summary.json"),
            }

    out = asyncio.run(main())
    assert out["ok"].state is JobState.COMPLETED and out["ok"].tenant == "bob"
    assert out["events"][-1].data["status"] == "COMPLETED"
    assert out["failed"][-1].data["error"]["message"] == "async boom"
    assert out["bad"].state is JobState.FAILED and out["bad"].error.message == "async boom"
    assert [j.id for j in out["listed"]] == [out["ok"].id]
    assert out["tasks"][0].identifier == "Countdown"
    assert out["download"] == b'{"ticks": 1, "steps": 2}'


def test_same_code_embedded_and_remote(processes: Processes, tmp_path: Path) -> None:
    """One function, two clients: the jobs() APIs are interchangeable.

    On a server of its own, without a worker: the ``api`` fixture's idle worker wakes as
    soon as a job is submitted, and could finish it before the cancel arrives.
    """
    db_url = f"sqlite:///{tmp_path / 'same.db'}"
    store = open_store(db_url)
    key = store.create_api_key("alice")[1]
    store.close()
    server = processes.server(db_url, "--no-notifier")

    def scenario(jobs: Any) -> tuple[JobState, list[str | None]]:
        job = jobs.submit("same", NoOp())
        assert jobs.find(job.id).id == job.id
        jobs.cancel(job)
        again = jobs.retry(job.id)
        return jobs.find(again).state, [p.label for p in jobs.find(job).progress]

    with Client(db_url) as embedded, Client(server.url, api_key=key) as remote:
        e_state, e_labels = scenario(embedded.jobs())
        r_state, r_labels = scenario(remote.jobs())
    assert e_labels == r_labels == []
    assert {e_state, r_state} <= {JobState.QUEUED, JobState.STARTED, JobState.COMPLETED}
