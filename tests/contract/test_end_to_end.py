"""The public API end to end on each engine: Client + runner, subtasks, progress, results."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from conveyor import Client, ExecutionContext, JobState, ProgressIndicator, Task
from conveyor.examples import Countdown, Summarize, Tick, Verify


class MyTask(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.progress().add(10)
        for _ in range(10):
            context.submit_subtask(MySubTask())


class MySubTask(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.progress().done(1)


def test_seed_progress_example(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("progress", MyTask())
    client.runner(tasks=[MyTask, MySubTask]).run_all()
    job = jobs.find(job.id)
    assert job.state is JobState.COMPLETED
    assert job.progress == [ProgressIndicator(label=None, total=10, done=10)]
    assert len(jobs.tasks(job.id)) == 11


def test_countdown_fan_out_fan_in(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("countdown", Countdown(n=4, steps=3, delay=0.0))
    client.runner(tasks=[Countdown, Tick, Verify, Summarize]).run_all()
    job = jobs.find(job.id)
    assert job.state is JobState.COMPLETED
    assert job.progress == [
        ProgressIndicator("count", 12, 12),
        ProgressIndicator("verify", 4, 4),
    ]
    [result] = job.results
    assert json.loads(client.blobs.get(result.blob_key)) == {"ticks": 4, "steps": 12}
    assert [j.id for j in jobs.query(states=[JobState.COMPLETED])] == [job.id]


def test_two_runners_share_the_work(client: Client, store_url: str, tmp_path: Path) -> None:
    jobs = client.jobs()
    submitted = [jobs.submit(f"c{i}", Countdown(n=3, steps=2, delay=0.001)) for i in range(4)]
    other = Client(store_url, blobs_url=(tmp_path / "blobs").as_uri())
    runners = [
        c.runner(tasks=[Countdown, Tick, Verify, Summarize], poll_interval=0.05)
        for c in (client, other)
    ]
    threads = [threading.Thread(target=r.run_all) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.close()
    assert sum(r.executed for r in runners) == 4 * (1 + 3 + 3 + 1)
    for job in submitted:
        got = jobs.find(job.id)
        assert got.state is JobState.COMPLETED
        assert got.progress == [ProgressIndicator("count", 6, 6), ProgressIndicator("verify", 3, 3)]
