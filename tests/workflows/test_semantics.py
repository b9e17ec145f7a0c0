"""Job semantics through the public API: DAG order, optional tasks, retries, cancel, cache."""

from __future__ import annotations

import json
import threading
import time

import pytest

from conveyor import (
    Client,
    ExecutionContext,
    JobState,
    ProgressIndicator,
    Task,
    TaskCancelledError,
    TaskState,
)

ORDER: list[str] = []
ATTEMPTS: dict[str, int] = {}


class Diamond(Task):
    """a → (b, c) → d, submitted in an order that would run d first if deps were ignored."""

    def execute(self, context: ExecutionContext) -> None:
        a = context.submit_subtask(Step("a"))
        b = context.submit_subtask(Step("b"), depends_on=[a])
        c = context.submit_subtask(Step("c"), depends_on=[a])
        context.submit_subtask(Step("d"), depends_on=[b, c])


class Step(Task):
    name: str

    def execute(self, context: ExecutionContext) -> None:
        ORDER.append(self.name)


class Flaky(Task):
    """Reports progress, then fails on its first ``fail_times`` attempts."""

    key: str
    fail_times: int

    def execute(self, context: ExecutionContext) -> None:
        ATTEMPTS[self.key] = ATTEMPTS.get(self.key, 0) + 1
        context.progress("work").add(1)
        context.progress("work").done(1)
        context.job_cache[f"attempt-{context.attempt}"] = b"x"
        context.submit_subtask(Step(f"child-of-attempt-{context.attempt}"))
        if ATTEMPTS[self.key] <= self.fail_times:
            raise RuntimeError(f"flaky failure {ATTEMPTS[self.key]}")


class WithOptional(Task):
    def execute(self, context: ExecutionContext) -> None:
        bad = context.submit_subtask(Flaky("optional", 99), optional=True)
        context.submit_subtask(Step("after-optional"), depends_on=[bad])


class BadDeps(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.submit_subtask(Step("x"), depends_on=["not-a-handle"])  # type: ignore[list-item]


class Looper(Task):
    """Reports progress in a loop until cancelled."""

    def execute(self, context: ExecutionContext) -> None:
        progress = context.progress("loop")
        progress.add(1_000_000)
        for _ in range(1_000_000):
            time.sleep(0.01)
            progress.done(1)
        ORDER.append("looper-finished")


@pytest.fixture(autouse=True)
def _reset() -> None:
    ORDER.clear()
    ATTEMPTS.clear()


def run(client: Client, *tasks: type[Task]) -> None:
    client.runner(tasks=list(tasks), retry_backoff=0.0).run_all()


def test_dag_order(client: Client) -> None:
    job = client.jobs().submit("diamond", Diamond())
    run(client, Diamond, Step)
    assert ORDER[0] == "a" and ORDER[-1] == "d" and sorted(ORDER[1:3]) == ["b", "c"]
    assert client.jobs().find(job.id).state is JobState.COMPLETED
    tasks = client.jobs().tasks(job.id)
    d = next(t for t in tasks if t.input == {"name": "d"})
    assert len(d.depends_on) == 2


def test_depends_on_must_name_earlier_siblings(client: Client) -> None:
    job = client.jobs().submit("bad", BadDeps())
    run(client, BadDeps, Step)
    job = client.jobs().find(job.id)
    assert job.state is JobState.FAILED
    assert job.error is not None and "depends_on" in job.error.message


def test_retry_counts_progress_of_last_attempt_only(client: Client) -> None:
    job = client.jobs().submit("flaky", Flaky("k", 2), max_retries=2)
    run(client, Flaky, Step)
    job = client.jobs().find(job.id)
    assert ATTEMPTS["k"] == 3
    assert job.state is JobState.COMPLETED
    assert job.progress == [ProgressIndicator("work", 1, 1)]
    # subtasks and cache writes of the failed attempts were discarded
    assert ORDER == ["child-of-attempt-3"]
    assert client.store.list_cache_keys(job.id) == ["attempt-3"]
    [root] = [t for t in client.jobs().tasks(job.id) if t.parent_id is None]
    assert root.attempt == 3 and root.failures == 2


def test_exhausted_retries_fail_the_job_with_error(client: Client) -> None:
    job = client.jobs().submit("flaky", Flaky("k", 5), max_retries=1)
    run(client, Flaky, Step)
    job = client.jobs().find(job.id)
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.type == "RuntimeError" and job.error.message == "flaky failure 2"
    assert "Traceback" in job.error.traceback
    assert all(p.total == p.done == 0 for p in job.progress)  # failed attempts discarded

    # retry: the failed task runs again (and succeeds now)
    ATTEMPTS["k"] = 10
    job = client.jobs().retry(job.id)
    assert job.state is JobState.STARTED
    run(client, Flaky, Step)
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED and job.error is None
    assert job.progress == [ProgressIndicator("work", 1, 1)]


def test_optional_failure_lets_the_job_go_on(client: Client) -> None:
    job = client.jobs().submit("optional", WithOptional())
    run(client, WithOptional, Flaky, Step)
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED
    states = {t.identifier: t.state for t in client.jobs().tasks(job.id)}
    assert states["Flaky"] is TaskState.FAILED_OPTIONAL
    assert "after-optional" in ORDER


def test_cancel_interrupts_a_running_task(client: Client) -> None:
    job = client.jobs().submit("loop", Looper())
    runner = client.runner(tasks=[Looper], cancel_check_interval=0.1)
    thread = threading.Thread(target=runner.run_all)
    thread.start()
    deadline = time.monotonic() + 10
    while (
        not client.jobs().find(job.id).progress or not client.jobs().find(job.id).progress[0].done
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.jobs().cancel(job.id)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert "looper-finished" not in ORDER
    job = client.jobs().find(job.id)
    assert job.state is JobState.CANCELED
    assert client.jobs().tasks(job.id)[0].state is TaskState.CANCELED


def test_cancel_queued_job_never_starts(client: Client) -> None:
    job = client.jobs().submit("diamond", Diamond())
    client.jobs().cancel(job.id)
    run(client, Diamond, Step)
    assert ORDER == []
    assert client.jobs().find(job.id).state is JobState.CANCELED
    # retry runs it
    client.jobs().retry(job.id)
    run(client, Diamond, Step)
    assert client.jobs().find(job.id).state is JobState.COMPLETED
    assert len(ORDER) == 4


def test_live_progress_is_visible_while_the_task_runs(client: Client) -> None:
    job = client.jobs().submit("loop", Looper())
    runner = client.runner(tasks=[Looper])
    thread = threading.Thread(target=runner.run_all)
    thread.start()
    try:
        seen = []
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            progress = client.jobs().find(job.id).progress
            if progress and (not seen or progress[0].done > seen[-1]):
                seen.append(progress[0].done)
            time.sleep(0.05)
        assert len(seen) >= 3, seen  # increasing values observed while running
        assert client.jobs().find(job.id).state is JobState.STARTED
    finally:
        client.jobs().cancel(job.id)
        thread.join(timeout=10)


class TwoDials(Task):
    """Sets one indicator once, then moves another until told to stop."""

    def execute(self, context: ExecutionContext) -> None:
        context.progress("fixed").add(5)
        context.progress("fixed").done(2)
        moving = context.progress("moving")
        moving.add(1_000_000)
        while not STOP.is_set():
            time.sleep(0.01)
            moving.done(1)


STOP = threading.Event()


def test_live_flushes_write_changes_and_recover_from_a_failed_one(client: Client) -> None:
    """Live flushes write only the indicators that changed; when one fails (a database
    hiccup), the next writes every indicator, so the one set once before it still shows."""
    STOP.clear()
    job = client.jobs().submit("dials", TwoDials())
    flush = client.store.flush_progress_many
    calls: list[set[str | None]] = []  # labels written, per flush after the failed one

    def failing_once(flushes, lease_seconds):  # type: ignore[no-untyped-def]
        labels = {v.label: v.done for f in flushes for v in f.progress}
        if not failed and labels.get("fixed") == 2:
            failed.append(labels)
            raise OSError("disk I/O error")
        if failed:
            calls.append(set(labels))
        return flush(flushes, lease_seconds)

    failed: list[dict[str | None, int]] = []
    client.store.flush_progress_many = failing_once  # type: ignore[method-assign]
    runner = client.runner(tasks=[TwoDials], progress_interval=0.02)
    thread = threading.Thread(target=runner.run_all)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        live: dict[str | None, tuple[int, int]] = {}
        while time.monotonic() < deadline and (len(calls) < 5 or live.get("fixed") != (5, 2)):
            live = {p.label: (p.total, p.done) for p in client.jobs().find(job.id).progress}
            time.sleep(0.02)
        assert live.get("fixed") == (5, 2), (live, calls)
        assert client.jobs().find(job.id).state is JobState.STARTED
        assert calls[0] == {"fixed", "moving"}  # the one after the failure: whole
        assert all(c == {"moving"} for c in calls[1:] if c), calls  # then the changes
    finally:
        STOP.set()
        thread.join(timeout=10)
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED
    assert {p.label: (p.total, p.done) for p in done.progress}["fixed"] == (5, 2)


class Quiet(Task):
    """Runs for ``seconds`` without reporting progress (or reporting it all along)."""

    seconds: float
    report: bool

    def execute(self, context: ExecutionContext) -> None:
        dial = context.progress("ticks")
        dial.add(1_000_000)
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if self.report:
                dial.done(1)


@pytest.mark.parametrize("report", [True, False])
def test_live_flushes_stand_in_for_heartbeats(client: Client, report: bool) -> None:
    """A task whose progress is flushed all along needs no separate heartbeats (each flush
    renews its lease and reads its job's state); a quiet one still gets them."""
    beats: list[int] = []
    heartbeat = client.store.heartbeat

    def counting(leases, lease_seconds):  # type: ignore[no-untyped-def]
        beats.append(len(leases))
        return heartbeat(leases, lease_seconds)

    client.store.heartbeat = counting  # type: ignore[method-assign]
    job = client.jobs().submit("quiet", Quiet(0.6, report))
    client.runner(tasks=[Quiet], progress_interval=0.02, cancel_check_interval=0.1).run_all()
    assert client.jobs().find(job.id).state is JobState.COMPLETED
    if report:
        assert len(beats) <= 2, beats  # none, but for a stall of the keeper thread
    else:
        assert len(beats) >= 4, beats  # every 0.1 s


def test_progress_amounts_are_validated(client: Client) -> None:
    from conveyor.workflows.context import ExecutionContext as Ctx

    ctx = Ctx(
        job_id=job_uuid(), task_id=job_uuid(), attempt=1, blobs=client.blobs, store=client.store
    )
    for bad in (-1, 1.5, "1", None):
        with pytest.raises(ValueError):
            ctx.progress("x").add(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            ctx.progress("x").done(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ctx.progress("")
    ctx._interrupt_with(TaskCancelledError("stop"), cancelled=True)
    assert ctx.cancelled
    with pytest.raises(TaskCancelledError):
        ctx.progress("x").done(1)


def job_uuid():  # type: ignore[no-untyped-def]
    import uuid

    return uuid.uuid4()


class CacheWriter(Task):
    """Writes entries, checks what its own attempt sees, then has a reader list them."""

    def execute(self, context: ExecutionContext) -> None:
        cache = context.job_cache
        cache["a"] = b"1"
        cache.group("g")["b"] = b"2"
        assert "a" in cache and "g/b" in cache and "zz" not in cache
        assert cache.group("g")["b"] == b"2"
        assert list(cache) == ["a", "g/b"]
        assert list(cache.group("g")) == ["b"]
        with pytest.raises(KeyError):
            cache["missing"]
        assert cache.get("missing") is None
        with pytest.raises(TypeError):
            cache["s"] = "not bytes"  # type: ignore[assignment]
        with pytest.raises(ValueError):
            cache["../escape"] = b"x"
        with pytest.raises(ValueError):
            cache.group("a/b")
        context.submit_subtask(CacheReader())


class CacheReader(Task):
    def execute(self, context: ExecutionContext) -> None:
        cache = context.job_cache
        seen = {
            "keys": list(cache),
            "group": list(cache.group("g")),
            "values": [cache["a"].decode(), cache.group("g")["b"].decode()],
            "in": ["g/b" in cache, "b" in cache.group("g"), "zz" in cache],
        }
        context.save_result("seen.json", json.dumps(seen).encode())


def test_job_cache_groups_and_iteration(client: Client) -> None:
    job = client.jobs().submit("cache", CacheWriter())
    run(client, CacheWriter, CacheReader)
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED, job.error
    (result,) = job.results
    assert json.loads(client.blobs.get(result.blob_key)) == {
        "keys": ["a", "g/b"],
        "group": ["b"],
        "values": ["1", "2"],
        "in": [True, True, False],
    }


def test_query_filters(client: Client) -> None:
    from datetime import UTC, datetime, timedelta

    a = client.jobs().submit("alpha", Step("x"))
    b = client.jobs().submit("beta", Flaky("q", 9))
    run(client, Step, Flaky)
    jobs = client.jobs()
    assert [j.id for j in jobs.query(states=[JobState.FAILED])] == [b.id]
    assert [j.id for j in jobs.query(name="alpha")] == [a.id]
    assert [j.id for j in jobs.query()] == [b.id, a.id]
    assert jobs.query(since=datetime.now(UTC) + timedelta(seconds=5)) == []
    assert len(jobs.query(until=datetime.now(UTC) + timedelta(seconds=5), limit=1)) == 1


class Publisher(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.publish("preview", {"url": "/x.png", "step": 1})
        with pytest.raises(ValueError):
            context.publish("state", {})


def test_published_events_reach_the_job_event_log(client: Client) -> None:
    job = client.jobs().submit("pub", Publisher())
    run(client, Publisher)
    events = client.store.events_after(job.id)
    previews = [e for e in events if e.type == "preview"]
    assert len(previews) == 1 and previews[0].data["url"] == "/x.png"
    assert [e.data["state"] for e in events if e.type == "state"] == [
        "QUEUED",
        "STARTED",
        "COMPLETED",
    ]
    assert events == sorted(events, key=lambda e: e.id)
