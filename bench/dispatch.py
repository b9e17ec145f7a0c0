"""Dispatch benchmark: PostgreSQL and SQLite, with 1, 2 and 4 worker processes.

For each engine and worker count, prints

* throughput: no-op tasks per second, draining the subtasks of one fan-out
  (measured from the first subtask's start to the job's end); the median of
  ``--rounds`` fan-outs, with the lowest and highest (a shared 2-core machine
  varies a lot from one run to the next), and
* dispatch latency: submit -> execute starts, p50/p99, one job at a time while
  the workers are idle (what a user waiting on a fresh job sees).

It starts its own throwaway PostgreSQL cluster (``conveyor.testing``) and real
``conveyor worker`` processes. Figures only, no assertions.

    python bench/dispatch.py [--tasks 5000] [--rounds 3] [--samples 200] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conveyor import Client, JobState
from conveyor.store.postgres import upgrade
from conveyor.testing import PostgresCluster

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tasks import FanOut  # noqa: E402
from dispatch_tasks import Stamp  # noqa: E402


@contextmanager
def workers(url: str, blobs_url: str, count: int) -> Iterator[None]:
    """``count`` idle ``conveyor worker`` processes on ``url``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"), str(HERE)]))
    command = [
        sys.executable,
        "-m",
        "conveyor.cli",
        "worker",
        str(HERE / "bench_tasks.py"),
        str(HERE / "dispatch_tasks.py"),
        "--database-url",
        url,
        "--blobs-url",
        blobs_url,
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(count)
    ]
    try:
        for proc in procs:  # each prints a banner once it polls
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if b"worker" not in line:
                raise RuntimeError(f"worker did not start: {line!r}")
        time.sleep(0.5)
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def throughput(client: Client, n: int) -> float:
    job = client.jobs().submit("fanout", FanOut(n))
    while not (job := client.jobs().find(job.id)).state.terminal:
        time.sleep(0.05)
    assert job.state is JobState.COMPLETED, job
    assert job.finished_at is not None
    starts = [t.started_at for t in client.jobs().tasks(job.id)[1:] if t.started_at]
    seconds = (job.finished_at - min(starts)).total_seconds()
    return float(n / seconds)


def latencies(client: Client, samples: int, stamps: Path) -> tuple[list[float], list[float]]:
    """(submit call -> execute, submit committed -> execute) in milliseconds."""
    stamps.unlink(missing_ok=True)
    submitted: dict[str, tuple[float, float]] = {}
    for _ in range(samples):
        before = time.time()
        job = client.jobs().submit("stamp", Stamp(str(stamps)))
        submitted[str(job.id)] = (before, time.time())
        deadline = time.monotonic() + 5
        while str(job.id) not in (stamps.read_text() if stamps.exists() else ""):
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        time.sleep(0.01)  # let the worker go idle again
    started = {}
    for line in stamps.read_text().splitlines():
        job_id, at = line.split()
        started[job_id] = float(at)
    call = [(started[j] - s[0]) * 1000 for j, s in submitted.items() if j in started]
    commit = [(started[j] - s[1]) * 1000 for j, s in submitted.items() if j in started]
    return call, commit


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_engine(
    name: str, new_url: object, counts: list[int], tasks: int, rounds: int, samples: int, tmp: Path
) -> None:
    for count in counts:
        url = new_url()  # type: ignore[operator]
        blobs_url = (tmp / f"blobs-{uuid.uuid4().hex[:8]}").as_uri()
        client = Client(url, blobs_url=blobs_url)
        with workers(url, blobs_url, count):
            rates = sorted(throughput(client, tasks) for _ in range(rounds))
            call, commit = latencies(client, samples, tmp / f"stamps-{name}-{count}.txt")
        client.close()
        print(
            f"{name:10s} workers={count}  {statistics.median(rates):8,.0f} no-op tasks/s "
            f"({rates[0]:,.0f}..{rates[-1]:,.0f})   dispatch "
            f"p50 {percentile(call, 50):7.1f} ms  p99 {percentile(call, 99):7.1f} ms   "
            f"(from commit: p50 {percentile(commit, 50):.1f} ms, p99 {percentile(commit, 99):.1f} "
            f"ms; {len(call)}/{samples} samples)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000, help="fan-out size per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="fan-outs per throughput figure")
    parser.add_argument("--samples", type=int, default=200, help="latency samples per run")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--engines", default="postgresql,sqlite")
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    engines = args.engines.split(",")
    print(
        f"cores: {os.cpu_count()}; {args.rounds} x {args.tasks} tasks per throughput figure, "
        f"{args.samples} latency samples",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if "postgresql" in engines:
            with PostgresCluster() as cluster:

                def new_postgres() -> str:
                    url = cluster.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                    upgrade(url)
                    return str(url)

                run_engine(
                    "postgresql", new_postgres, counts, args.tasks, args.rounds, args.samples, tmp
                )
        if "sqlite" in engines:

            def new_sqlite() -> str:
                return f"sqlite:///{tmp / uuid.uuid4().hex[:8]}.db"

            run_engine("sqlite", new_sqlite, counts, args.tasks, args.rounds, args.samples, tmp)


if __name__ == "__main__":
    main()
