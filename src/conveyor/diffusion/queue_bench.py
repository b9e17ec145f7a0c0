"""The queue's cost: generation jobs through a runner against the model called directly.

``compare`` runs both on one loaded model, in one process, at one batch size, and returns
:class:`QueueFigures`. ``direct`` is :func:`~conveyor.diffusion.bench_direct` (no queue, no
store, no PNGs); ``queue`` drains the same number of images as generation jobs (what
``POST /generate`` creates: a root, its image tasks, a contact sheet) through a runner on a
fresh SQLite database, image tasks batched up to the batch size.

The two alternate in short chunks: on a shared machine, a burst of foreign load then slows
both sides of a pair alike instead of skewing one side, and every figure is a median over
the pairs. A machine whose speed swings by more than the figure sought from one second to
the next needs many pairs, so the overhead comes with a distribution-free confidence
interval of its median (:func:`median_interval`) that says whether there were enough. The
share of the queue's wall time spent outside ``ImageModel.generate`` is measured within each
queue chunk, so it holds up when the direct/queue comparison gets noisy.

Unlike the rest of :mod:`conveyor.diffusion`, this module needs the workflow engine; it is
what ``conveyor bench`` and ``bench/diffusion.py`` run.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from conveyor.diffusion.base import ImageModel
from conveyor.diffusion.bench import bench_direct
from conveyor.diffusion.registry import ModelRegistry
from conveyor.diffusion.request import GenerationParams
from conveyor.diffusion.runtime import use_registry
from conveyor.diffusion.tasks import DIFFUSION_TASKS, Generate, GenerateImage
from conveyor.models import JobState
from conveyor.workflows import Client

__all__ = ["QueueFigures", "compare", "median_interval"]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Direct and queued generation at one batch size: medians over alternating pairs."""

    batch: int
    pairs: int
    #: Images per second calling the model directly, and through the queue.
    direct: float
    queue: float
    #: ``1 - queue / direct`` per pair: median and its 95 % confidence interval.
    overhead: float
    overhead_low: float
    overhead_high: float
    #: Share of a queue chunk's wall time spent outside ``ImageModel.generate``.
    outside_model: float
    #: Share of a queue chunk's wall time spent writing blobs (PNGs, ``generation.json``).
    blob_writes: float
    #: How much slower the model itself ran inside the queue's chunks than direct.
    model_slower: float

    @property
    def extra_ms(self) -> float:
        """What the queue adds per image, in milliseconds (of the median rates)."""
        return 1000 * (1 / self.queue - 1 / self.direct)


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median of ``values``.

    The median lies below the ``k``-th smallest of ``n`` independent values with the
    probability that a fair coin shows heads fewer than ``k`` times in ``n`` throws, so
    ``[x_(k), x_(n+1-k)]`` with the largest ``k`` whose tails add up to at most
    ``1 - confidence`` covers it at least that often. Too few values for any such ``k``:
    the whole range.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2
    k, below = 0, 0.0  # below: the chance of at most k heads
    while k < n // 2:
        below += math.comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    if k == 0:
        return ordered[0], ordered[-1]
    return ordered[k - 1], ordered[n - k]


class _Clock:
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


class _Queue:
    """One database and runner; ``rate`` drains a fresh chunk of jobs through them."""

    def __init__(
        self, client: Client, params: GenerationParams, model: _Clock, progress_interval: float
    ) -> None:
        self.client = client
        self.params = params
        self.model = model
        self.blobs = _Clock(client.blobs, "put")
        self.runner = client.runner(tasks=DIFFUSION_TASKS, progress_interval=progress_interval)
        self.seed = 0
        self.outside: list[float] = []  # per chunk, share of its wall time
        self.blob_writes: list[float] = []  # per chunk, share of its wall time
        self.model_seconds: list[float] = []  # per chunk, per image
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
        in_model, in_puts = self.model.seconds, self.blobs.seconds
        started = time.perf_counter()
        self.runner.run_all()
        elapsed = time.perf_counter() - started
        model = self.model.seconds - in_model
        self.outside.append(1 - model / elapsed)
        self.blob_writes.append((self.blobs.seconds - in_puts) / elapsed)
        self.model_seconds.append(model / (jobs * self.params.num_images))
        states = {client.find(job_id).state for job_id in ids}
        if states != {JobState.COMPLETED}:
            raise RuntimeError(f"benchmark jobs ended {sorted(s.value for s in states)}")
        return jobs * self.params.num_images / elapsed


@contextmanager
def _queue(
    model: ImageModel,
    params: GenerationParams,
    batch: int,
    data_dir: str | None,
    progress_interval: float,
) -> Iterator[_Queue]:
    """A queue whose image tasks batch up to ``batch``, on a fresh database in ``data_dir``."""
    original = GenerateImage.max_batch_size
    GenerateImage.max_batch_size = batch
    clock = _Clock(model, "generate")
    try:
        with (
            tempfile.TemporaryDirectory(dir=data_dir) as tmp,
            Client(f"sqlite:///{tmp}/bench.db") as client,
        ):
            yield _Queue(client, params, clock, progress_interval)
    finally:
        clock.close()
        GenerateImage.max_batch_size = original


def compare(
    batch: int,
    *,
    registry: ModelRegistry,
    model: str = "digits",
    prompt: str = "a seven",
    steps: int = 20,
    images: int = 16,
    per_job: int = 1,
    seconds: float = 120.0,
    pairs: int = 15,
    data_dir: str | None = None,
    progress_interval: float = 0.1,
    on_pair: Callable[[int], None] | None = None,
) -> QueueFigures:
    """Alternate direct and queued chunks of ``images`` images at batch size ``batch`` for
    about ``seconds`` (and at least ``pairs`` pairs), in jobs of ``per_job`` images.

    The queue's SQLite file and blobs go to a temporary directory in ``data_dir`` (default:
    the system's); ``on_pair`` is called with the number of pairs done after each.
    """
    if batch < 1 or images < 1 or per_job < 1 or pairs < 1:
        raise ValueError("batch, images, per_job and pairs must be >= 1")
    if images % per_job:
        raise ValueError(f"images ({images}) must be a multiple of per_job ({per_job})")
    engine = registry.get(model)
    params = registry.resolve(
        GenerationParams(prompt, model=model, num_inference_steps=steps, num_images=per_job)
    )
    direct: list[float] = []
    queued: list[float] = []
    overheads: list[float] = []
    slower: list[float] = []
    with use_registry(registry), _queue(engine, params, batch, data_dir, progress_interval) as q:
        until = time.monotonic() + seconds
        while len(direct) < pairs or time.monotonic() < until:
            first_direct = len(direct) % 2 == 0
            got: dict[str, float] = {}
            for side in ("direct", "queue") if first_direct else ("queue", "direct"):
                if side == "queue":
                    got[side] = q.rate(images // per_job)
                else:
                    got[side] = bench_direct(
                        batch, images, steps, model=model, prompt=prompt, registry=registry
                    )
            direct.append(got["direct"])
            queued.append(got["queue"])
            overheads.append(1 - got["queue"] / got["direct"])
            slower.append(q.model_seconds[-1] * got["direct"] - 1)
            if on_pair is not None:
                on_pair(len(direct))
        low, high = median_interval(overheads)
        return QueueFigures(
            batch=batch,
            pairs=len(direct),
            direct=statistics.median(direct),
            queue=statistics.median(queued),
            overhead=statistics.median(overheads),
            overhead_low=low,
            overhead_high=high,
            outside_model=statistics.median(q.outside),
            blob_writes=statistics.median(q.blob_writes),
            model_slower=statistics.median(slower),
        )
