"""Bursts of generation-shaped jobs on a fleet of workers: do the batches spread?

Each job is a root, ``--frames`` batchable Frame tasks (up to 8 a batch; a batch sleeps
``--batch-seconds``, a GPU stand-in that leaves the CPU idle) and a final Sheet, as a
``POST /generate`` job is. ``--workers`` worker processes share one SQLite file. A burst
of ``--jobs`` jobs is submitted at once and timed from the first submit to the last job's
end; the figure to compare is that time against the ideal (the burst's batches divided
evenly over the workers), and how many Frame tasks each worker ran.

    python bench/spread.py [--workers 2] [--jobs 16] [--bursts 8] [--batch-seconds 0.2]
                           [--batch-wait 0.05]

``--batch-wait`` is the Frame tasks' ``batch_wait`` (what ``CONVEYOR_BATCH_WAIT_SECONDS`` sets
for image tasks): how long a batch that is not full waits for more. A burst either spreads
into full batches (about one batch time) or not (two in a row), so look at the mean as
well as the median.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _servers import Procs  # noqa: E402
from bench_tasks import Shot  # noqa: E402
from conveyor import Client  # noqa: E402


def burst(client: Client, jobs: int, frames: int, seconds: float) -> tuple[float, Counter[str]]:
    """Submit ``jobs`` jobs at once; seconds until the last one ends, Frame tasks per worker."""
    started = time.perf_counter()
    ids = [client.jobs().submit("shot", Shot(frames, seconds)).id for _ in range(jobs)]
    pending = set(ids)
    while pending:
        pending = {i for i in pending if not client.jobs().find(i).state.terminal}
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    workers: Counter[str] = Counter()
    for job_id in ids:
        for task in client.store.list_tasks(job_id):
            if task.identifier == "Frame":
                workers[task.worker_id or "?"] += 1
    return elapsed, workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=16, help="jobs per burst")
    parser.add_argument("--frames", type=int, default=1, help="Frame tasks per job")
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--batch-seconds", type=float, default=0.2)
    parser.add_argument("--batch-wait", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Procs(Path(tmp)) as procs:
        url = f"sqlite:///{tmp}/spread.db"
        client = Client(url, blobs_url=f"file://{tmp}/blobs")
        for i in range(args.workers):
            procs.start(
                f"worker{i}",
                "worker",
                str(HERE / "bench_tasks.py"),
                "--database-url",
                url,
                BENCH_BATCH_WAIT=str(args.batch_wait),
            )
        burst(client, args.workers * 8, 1, 0.01)  # workers up, every kind seen once
        walls, spread = [], []
        for _ in range(args.bursts):
            elapsed, workers = burst(client, args.jobs, args.frames, args.batch_seconds)
            walls.append(elapsed)
            counts = [workers.get(w, 0) for w in sorted(workers)]
            counts += [0] * (args.workers - len(counts))
            spread.append(counts)
            time.sleep(0.3)  # workers idle between bursts, as between users' requests
        client.close()
    batches = math.ceil(args.jobs * args.frames / 8)
    ideal = math.ceil(batches / args.workers) * args.batch_seconds
    print(
        f"{args.workers} workers, bursts of {args.jobs} jobs x {args.frames} frames "
        f"({batches} batches of <= 8, {args.batch_seconds} s each, batch wait {args.batch_wait} s)"
    )
    print(
        f"burst time: median {statistics.median(walls):.3f} s, mean {statistics.mean(walls):.3f}, "
        f"min {min(walls):.3f}, max {max(walls):.3f} (ideal {ideal:.3f} s)"
    )
    print("frames per worker, each burst: " + "  ".join("/".join(map(str, c)) for c in spread))


if __name__ == "__main__":
    main()
