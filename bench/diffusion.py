"""Image generation throughput: direct model calls vs the queue, one at a time vs batched.

Prints images per second four ways, all in one process on one loaded model:

- ``direct``: ``ImageModel.generate`` in a loop (no queue, no store, no PNGs), batches of 1
  and of ``--batch`` (``conveyor.diffusion.bench_direct``);
- ``queue``: the same number of images as generation jobs of ``--per-job`` images each
  (default 1: independent requests; each job is what ``POST /generate`` creates: a root, its
  image tasks and a contact sheet) drained by a runner on a SQLite database, with
  image-task batching off (``max_batch_size`` 1) and at ``--batch``.

Then the batching speed-up (queue at ``--batch`` over queue at 1) and the queue's overhead at
each batch size, ``1 - queue_rate / direct_rate``, and the share of the queue runs' wall time
the worker spent outside ``ImageModel.generate`` (measured within each run, so it holds up on
a busy machine where the direct/queue comparison gets noisy), of which writing blobs (the
PNG results and ``generation.json``; small job cache entries are database rows: mostly
creating files, whose cost depends on the file system under ``--data-dir`` far more than on
Conveyor), and how much slower the model
itself ran inside the queue than direct (caches the queue's work between batches evicted, the
GIL it shares with the runner's keeper thread). Direct and queue runs alternate
in short chunks of ``--images`` images, ``--pairs`` times, and every figure is a median over
the pairs: on a shared machine, a burst of foreign load then slows both sides of a pair alike
instead of skewing one side of the comparison. Targets: overhead <= 5 %, speed-up >= 2x at
batch 8 on CPU. Figures only; nothing is asserted.

    python bench/diffusion.py [--images 16] [--pairs 15] [--steps 20] [--batch 8]
                              [--per-job 1] [--model digits] [--data-dir /dev/shm]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conveyor.diffusion import GenerationParams, ImageModel, ModelRegistry, bench_direct
from conveyor.diffusion.runtime import use_registry
from conveyor.diffusion.tasks import DIFFUSION_TASKS, Generate, GenerateImage
from conveyor.models import JobState
from conveyor.workflows import Client


class Clock:
    """Seconds spent inside one method of one object (wraps the instance's method)."""

    def __init__(self, owner: Any, method: str) -> None:
        self.seconds = 0.0
        self._owner = owner
        self._method = method
        call = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, method, timed)

    def close(self) -> None:
        delattr(self._owner, self._method)  # back to the class's method


class Queue:
    """One database and runner; ``rate`` drains a fresh chunk of jobs through them."""

    def __init__(
        self, client: Client, params: GenerationParams, clock: Clock, progress_interval: float
    ) -> None:
        self.client = client
        self.params = params
        self.clock = clock
        self.blob_clock = Clock(client.blobs, "put")
        self.runner = client.runner(tasks=DIFFUSION_TASKS, progress_interval=progress_interval)
        self.seed = 0
        #: Per drained chunk: the share of the drain's wall time spent outside the model.
        self.outside: list[float] = []
        #: Per drained chunk: the share of the drain's wall time spent writing blobs.
        self.blob_writes: list[float] = []
        #: Per drained chunk: seconds inside ``ImageModel.generate`` per image.
        self.model_seconds: list[float] = []
        self.rate(1)  # warm-up: the first job pays for lazy imports and first kernels
        self.outside.clear()
        self.blob_writes.clear()
        self.model_seconds.clear()

    def rate(self, jobs: int) -> float:
        """Submit ``jobs`` jobs, drain them; images per second of the drain."""
        client = self.client.jobs()
        ids = []
        for _ in range(jobs):
            ids.append(client.submit("generate", Generate(self.params.with_seed(self.seed))).id)
            self.seed += self.params.num_images
        in_model, in_puts = self.clock.seconds, self.blob_clock.seconds
        started = time.perf_counter()
        self.runner.run_all()
        elapsed = time.perf_counter() - started
        self.outside.append(1 - (self.clock.seconds - in_model) / elapsed)
        self.blob_writes.append((self.blob_clock.seconds - in_puts) / elapsed)
        self.model_seconds.append((self.clock.seconds - in_model) / (jobs * self.params.num_images))
        states = {client.find(job_id).state for job_id in ids}
        assert states == {JobState.COMPLETED}, states
        return jobs * self.params.num_images / elapsed


@contextmanager
def queue(
    model: ImageModel,
    params: GenerationParams,
    batch: int,
    data_dir: str | None,
    progress_interval: float,
) -> Iterator[Queue]:
    """A queue whose image tasks batch up to ``batch``, on a fresh database in ``data_dir``."""
    original = GenerateImage.max_batch_size
    GenerateImage.max_batch_size = batch
    clock = Clock(model, "generate")
    try:
        with (
            tempfile.TemporaryDirectory(dir=data_dir) as tmp,
            Client(f"sqlite:///{tmp}/bench.db") as client,
        ):
            yield Queue(client, params, clock, progress_interval)
    finally:
        clock.close()
        GenerateImage.max_batch_size = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=16, help="images per chunk")
    parser.add_argument("--pairs", type=int, default=15, help="direct/queue chunk pairs")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per image")
    parser.add_argument("--batch", type=int, default=8, help="the batched case's batch size")
    parser.add_argument(
        "--per-job", type=int, default=1, help="images per job (num_images of each request)"
    )
    parser.add_argument("--model", default="digits", help="a bundled or CONVEYOR_MODELS name")
    parser.add_argument("--prompt", default="a seven")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where the queue's SQLite file and blobs go (default: the system temp dir); "
        "/dev/shm takes the disk out of the figures",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=0.1,
        help="the queue's runner writes live progress at most this often (seconds; the "
        "worker's --progress-interval-seconds)",
    )
    args = parser.parse_args()
    if args.images % args.per_job:
        raise SystemExit("--images must be a multiple of --per-job")

    configured = ModelRegistry.from_env()
    registry = (
        ModelRegistry(
            {n: configured.spec(n).path for n in configured.names() if n != "digits"},
            device=args.device,
        )
        if args.device
        else configured
    )
    model = registry.get(args.model)
    params = registry.resolve(
        GenerationParams(
            args.prompt, model=args.model, num_inference_steps=args.steps, num_images=args.per_job
        )
    )
    print(
        f"model {args.model} on {model.device}, {args.steps} steps; {args.pairs} pairs of "
        f"{args.images}-image chunks in jobs of {args.per_job}; queue data in "
        f"{args.data_dir or tempfile.gettempdir()}"
    )
    rates: dict[tuple[str, int], float] = {}
    with use_registry(registry):
        for batch in (1, args.batch):
            direct: list[float] = []
            queued: list[float] = []
            overheads: list[float] = []
            slower: list[float] = []  # the model's own time per image, queue over direct
            with queue(model, params, batch, args.data_dir, args.progress_interval) as q:
                for pair in range(args.pairs):
                    sides = ("direct", "queue") if pair % 2 == 0 else ("queue", "direct")
                    got: dict[str, float] = {}
                    for side in sides:
                        if side == "queue":
                            got[side] = q.rate(args.images // args.per_job)
                        else:
                            got[side] = bench_direct(
                                batch,
                                args.images,
                                args.steps,
                                model=args.model,
                                prompt=args.prompt,
                                registry=registry,
                            )
                    direct.append(got["direct"])
                    queued.append(got["queue"])
                    overheads.append(1 - got["queue"] / got["direct"])
                    slower.append(q.model_seconds[-1] * got["direct"] - 1)
                outside = statistics.median(q.outside)
                blob_writes = statistics.median(q.blob_writes)
            rates["direct", batch] = statistics.median(direct)
            rates["queue", batch] = statistics.median(queued)
            low, mid, high = statistics.quantiles(overheads, n=4)
            # What the queue adds per image: its share of the jobs' three tasks, PNGs, blob
            # writes and live progress flushes.
            extra_ms = 1000 * (1 / rates["queue", batch] - 1 / rates["direct", batch])
            print(
                f"batch {batch:>3}: direct {rates['direct', batch]:7.2f} img/s   "
                f"queue {rates['queue', batch]:7.2f} img/s   overhead {mid:6.1%} "
                f"(quartiles {low:.1%} .. {high:.1%}; ~{extra_ms:.1f} ms/image); "
                f"worker time outside the model {outside:.1%} (blob writes "
                f"{blob_writes:.1%}); the model itself "
                f"{statistics.median(slower):+.1%} slower than direct"
            )
    print(
        f"batching speed-up at batch {args.batch}: queue "
        f"{rates['queue', args.batch] / rates['queue', 1]:.2f}x, "
        f"direct {rates['direct', args.batch] / rates['direct', 1]:.2f}x"
    )


if __name__ == "__main__":
    main()
