"""The embedded JobClient's ``download`` and ``watch``, as the HTTP client has them: results
read back by name, and a job's state and progress events followed as they are committed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conveyor import Client, JobClient, JobNotFoundError, ResultNotFoundError
from conveyor.examples import Countdown, Fail, NoOp, Summarize, Tick, Verify
from conveyor.models import JobState

TASKS = [Countdown, Tick, Verify, Summarize, NoOp, Fail]


@pytest.fixture
def client(tmp_path: Path) -> Client:
    with Client(f"sqlite:///{tmp_path}/jobs.db") as client:
        yield client


def test_download_reads_a_result_by_name(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("count", Countdown(n=2, steps=2, delay=0))
    client.runner(tasks=TASKS).run_all()
    assert jobs.download(job, "summary.json") == b'{"ticks": 2, "steps": 4}'
    assert jobs.download(str(job.id), "summary.json") == b'{"ticks": 2, "steps": 4}'
    with pytest.raises(ResultNotFoundError, match=r"has no result 'nope\.json'"):
        jobs.download(job, "nope.json")
    with pytest.raises(JobNotFoundError):
        jobs.download("00000000-0000-7000-8000-000000000000", "summary.json")
    with pytest.raises(JobNotFoundError):  # another tenant's job
        JobClient(client.store, "mallory", blobs=client.blobs).download(job, "summary.json")
    assert client.blobs.delete_prefix(f"jobs/{job.id}/") >= 1  # retention took the blobs
    with pytest.raises(ResultNotFoundError, match="gone from the blob store"):
        jobs.download(job, "summary.json")
    with pytest.raises(RuntimeError, match="no blob store"):
        JobClient(client.store).download(job, "summary.json")


def test_watch_follows_a_running_job_to_its_end(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("count", Countdown(n=2, steps=5, delay=0.02))
    runner = client.runner(tasks=TASKS, progress_interval=0.02)
    worker = threading.Thread(target=runner.run_all)
    worker.start()
    try:
        events = list(jobs.watch(job, poll_interval=0.01))
    finally:
        worker.join(timeout=30)
    assert {e.type for e in events} == {"state", "progress"}
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    states = [e.data["state"] for e in events if e.type == "state"]
    assert states[0] in ("QUEUED", "STARTED") and states[-1] == "COMPLETED"
    assert events[-1].type == "state"  # it ends with the terminal state
    counts = [
        p["done"] for e in events if e.type == "progress" for p in e.data["progress"]
        if p["label"] == "count"
    ]  # fmt: skip
    assert counts[0] == 0 and counts[-1] == 10 and len(set(counts)) > 2  # step by step
    assert jobs.find(job).state is JobState.COMPLETED


def test_watch_resumes_after_an_event_and_returns_for_an_ended_job(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("noop", NoOp())
    client.runner(tasks=TASKS).run_all()
    events = list(jobs.watch(job))
    assert events[-1].data["state"] == "COMPLETED"
    assert list(jobs.watch(job, last_event_id=events[0].id)) == events[1:]
    assert list(jobs.watch(job, last_event_id=events[-1].id)) == []  # nothing more will come
    with pytest.raises(JobNotFoundError):
        next(JobClient(client.store, tenant="mallory").watch(job))
    with pytest.raises(ValueError, match="poll_interval"):
        next(jobs.watch(job, poll_interval=0))


def test_watch_ends_at_a_failure_and_after_a_cancel(client: Client) -> None:
    jobs = client.jobs()
    queued = jobs.submit("noop", NoOp())
    jobs.cancel(queued)
    [last] = [e for e in jobs.watch(queued) if e.type == "state"][-1:]
    assert last.data["state"] == "CANCELED"
    failing = jobs.submit("fail", Fail(message="no luck"), max_retries=0)
    worker = threading.Thread(target=client.runner(tasks=TASKS).run_all)
    worker.start()
    try:
        states = [e.data["state"] for e in jobs.watch(failing, poll_interval=0.01)]
    finally:
        worker.join(timeout=30)
    assert states[-1] == "FAILED"
