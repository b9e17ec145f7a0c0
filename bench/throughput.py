"""Queue throughput on the embedded SQLite store.

Prints: no-op tasks per second drained by 1 and 2 runner processes, and
``progress().done(1)`` calls per second inside a running task.

    python bench/throughput.py [--tasks 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conveyor import Client, JobState

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tasks import FanOut, ProgressLoop  # noqa: E402


def drain(processes: int, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        client = Client(url)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"), str(HERE)]))
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "conveyor.cli",
                    "worker",
                    str(HERE / "bench_tasks.py"),
                    "--database-url",
                    url,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(processes)
        ]
        time.sleep(2.0)  # let the workers import and start polling
        job = client.jobs().submit("fanout", FanOut(n))
        while not (job := client.jobs().find(job.id)).state.terminal:
            time.sleep(0.05)
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        assert job.state is JobState.COMPLETED, job
        assert job.started_at and job.finished_at
        seconds = (job.finished_at - job.started_at).total_seconds()
        client.close()
        return n / seconds


def progress_rate(calls: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        client = Client(f"sqlite:///{tmp}/bench.db")
        job = client.jobs().submit("progress", ProgressLoop(calls))
        client.runner(tasks=[ProgressLoop]).run_all()
        job = client.jobs().find(job.id)
        assert job.progress[0].done == calls, job.progress
        timing = json.loads(client.blobs.get(job.results[0].blob_key))
        client.close()
        return calls / timing["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--progress-calls", type=int, default=2_000_000)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    for processes in (1, 2):
        rate = drain(processes, args.tasks)
        print(f"no-op tasks/s, {processes} runner process(es), {args.tasks} tasks: {rate:,.0f}")
    rate = progress_rate(args.progress_calls)
    print(f"progress().done(1) calls/s inside a task: {rate:,.0f}")


if __name__ == "__main__":
    main()
