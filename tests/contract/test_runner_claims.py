"""How much a runner claims at once: short tasks many at a time, long ones never hoarded,
and a batch that is not full waits ``batch_wait`` seconds for more.

Through the public Client and Runner on each engine, with two runners in threads as two
workers of a fleet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from conveyor import Client, ExecutionContext, JobState, Task
from conveyor.workflows import Runner

#: Which runner thread ran how many Render tasks, per batch.
BATCHES: list[tuple[str, int]] = []
#: Two batches must be under way at once to pass it: a runner that holds every queued
#: Render task leaves the other runner nothing to start.
TOGETHER = threading.Barrier(2, timeout=10)


class Shot(Task):
    """A job's root: fans out ``n`` Render tasks."""

    n: int

    def execute(self, context: ExecutionContext) -> None:
        context.submit_subtasks(Render(i) for i in range(self.n))


class Render(Task):
    """Batchable and long: a GPU batch stand-in that waits for another batch to run."""

    frame: int
    max_batch_size: ClassVar[int] = 4

    def batch_key(self) -> str:
        return "render"

    @classmethod
    def execute_batch(
        cls, tasks: Sequence[Task], contexts: Sequence[ExecutionContext]
    ) -> list[BaseException | None]:
        BATCHES.append((threading.current_thread().name, len(tasks)))
        TOGETHER.wait()
        return [None] * len(tasks)


class Note(Task):
    """Short: a no-op that grows a runner's prefetch."""

    def execute(self, context: ExecutionContext) -> None:
        return None


def _runner(client: Client) -> Runner:
    return client.runner(tasks=[Shot, Render, Note], poll_interval=0.02)


def test_a_burst_of_long_tasks_spreads_over_the_runners(client: Client) -> None:
    """Two runners that have just run many short tasks (so each claims dozens at once)
    get one batch each of a burst of eight Render tasks, instead of one runner claiming
    all eight and running two batches in a row while the other idles."""
    runners = [_runner(client), _runner(client)]
    for runner in runners:
        for _ in range(40):
            client.jobs().submit("notes", Note())
        runner.run_all()
    BATCHES.clear()
    TOGETHER.reset()
    jobs = [client.jobs().submit("shot", Shot(4)) for _ in range(2)]
    threads = [
        threading.Thread(target=runner.run_all, name=f"runner-{i}")
        for i, runner in enumerate(runners)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(BATCHES) == [("runner-0", 4), ("runner-1", 4)]
    assert all(client.jobs().find(job.id).state is JobState.COMPLETED for job in jobs)


def test_short_tasks_after_a_long_batch_are_still_claimed_together(client: Client) -> None:
    """A long task at the head of the queue is claimed alone (the short tasks behind it
    stay free for other runners while it runs), and the 40 short tasks after it still come
    in a claim or two: a long batch does not send the prefetch back to one task at a time."""
    runner = _runner(client)
    for _ in range(40):
        client.jobs().submit("notes", Note())
    runner.run_all()
    client.jobs().submit("shot", Shot(1))
    client.runner(tasks=[Shot]).run_all()  # the Render task waits at the head of the queue
    for _ in range(40):
        client.jobs().submit("notes", Note())
    claims: list[int] = []
    claim = client.store.claim

    def counting(*args: Any, **kwargs: Any) -> Any:
        claimed = claim(*args, **kwargs)
        claims.append(len(claimed))
        return claimed

    client.store.claim = counting  # type: ignore[method-assign]
    TOGETHER.reset()
    other = threading.Thread(target=TOGETHER.wait)  # the batch the Render batch waits for
    other.start()
    runner.run_all()
    other.join(10)
    assert claims[0] == 1 and claims[-1] == 0 and sum(claims) == 41, claims
    # One or two claims (the prefetch is about 50 ms of such tasks), not 1, 2, 4, 8, 16, 9.
    assert len(claims) <= 4, claims


class Tile(Task):
    """Batchable, with a long batch window: a batch runs once full (or at ``stop()``)."""

    index: int
    max_batch_size: ClassVar[int] = 4
    batch_wait: ClassVar[float] = 60.0

    def batch_key(self) -> str:
        return "tile"

    @classmethod
    def execute_batch(
        cls, tasks: Sequence[Task], contexts: Sequence[ExecutionContext]
    ) -> list[BaseException | None]:
        BATCHES.append((threading.current_thread().name, len(tasks)))
        return [None] * len(tasks)


def _wait_started(client: Client, job_id: object) -> None:
    deadline = time.monotonic() + 10
    while client.jobs().find(job_id).state is JobState.QUEUED:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, "the runner never claimed the task"
        time.sleep(0.01)


def test_a_batch_waits_for_tasks_queued_after_it_started_filling(client: Client) -> None:
    """Jobs submitted one after another (roots committing one by one, in a burst) fill one
    batch instead of running as a batch of one and then one of the rest; the batch starts
    as soon as it is full, long before its window ends."""
    BATCHES.clear()
    first = client.jobs().submit("tile", Tile(0))
    runner = client.runner(tasks=[Tile], poll_interval=0.02)
    thread = threading.Thread(target=runner.run_all, name="waiting")
    thread.start()
    _wait_started(client, first.id)
    rest = []
    for i in range(1, 4):
        time.sleep(0.05)
        rest.append(client.jobs().submit("tile", Tile(i)))
    thread.join(30)  # far less than the 60 s window: full batches do not wait
    assert not thread.is_alive()
    assert BATCHES == [("waiting", 4)]
    assert all(client.jobs().find(j.id).state is JobState.COMPLETED for j in [first, *rest])


def test_stop_ends_a_batch_window_and_the_batch_still_runs(client: Client) -> None:
    BATCHES.clear()
    job = client.jobs().submit("tile", Tile(0))
    runner = client.runner(tasks=[Tile], poll_interval=0.02)
    thread = threading.Thread(target=runner.run_forever, name="stopping")
    thread.start()
    _wait_started(client, job.id)
    runner.stop(grace=30)
    thread.join(30)
    assert not thread.is_alive()
    assert BATCHES == [("stopping", 1)]
    assert client.jobs().find(job.id).state is JobState.COMPLETED
