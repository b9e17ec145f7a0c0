"""Image generation throughput: direct model calls vs the queue, one at a time vs batched.

Prints images per second four ways, all in one process on one loaded model:

- ``direct``: ``ImageModel.generate`` in a loop (no queue, no store, no PNGs), batches of 1
  and of ``--batch``;
- ``queue``: ``--images`` independent one-image generation jobs (what ``POST /generate``
  creates: root, image task, contact sheet) drained by a runner on a fresh SQLite database,
  with image-task batching off (``max_batch_size`` 1) and at ``--batch``.

Then the batching speed-up (queue at ``--batch`` over queue at 1) and the queue's overhead at
each batch size, ``1 - queue_rate / direct_rate``, from direct and queue runs made back to
back (median over ``--repeat`` pairs, each pair's figure shown). Targets: overhead <= 5 %,
speed-up >= 2x at batch 8 on CPU. Figures only; nothing is asserted.

    python bench/diffusion.py [--images 64] [--steps 20] [--batch 8] [--model digits]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from conveyor.diffusion import GenerationParams, ModelRegistry, bench_direct
from conveyor.diffusion.runtime import use_registry
from conveyor.diffusion.tasks import DIFFUSION_TASKS, Generate, GenerateImage
from conveyor.models import JobState
from conveyor.workflows import Client


def queue_rate(
    registry: ModelRegistry, batch: int, images: int, steps: int, model: str, prompt: str
) -> tuple[float, float]:
    """Drain ``images`` one-image jobs with image batches of ``batch``: (images/s, submit s)."""
    GenerateImage.max_batch_size = batch
    params = registry.resolve(GenerationParams(prompt, model=model, num_inference_steps=steps))
    with tempfile.TemporaryDirectory() as tmp, Client(f"sqlite:///{tmp}/bench.db") as client:
        jobs = client.jobs()
        runner = client.runner(tasks=DIFFUSION_TASKS)
        warm = jobs.submit("warm-up", Generate(params.with_seed(0)))
        runner.run_all()
        assert jobs.find(warm.id).state is JobState.COMPLETED
        started = time.perf_counter()
        ids = [jobs.submit("generate", Generate(params.with_seed(i))).id for i in range(images)]
        submitted = time.perf_counter() - started
        started = time.perf_counter()
        runner.run_all()
        elapsed = time.perf_counter() - started
        states = {jobs.find(job_id).state for job_id in ids}
        assert states == {JobState.COMPLETED}, states
    return images / elapsed, submitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=64, help="images per measurement")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per image")
    parser.add_argument("--batch", type=int, default=8, help="the batched case's batch size")
    parser.add_argument("--model", default="digits", help="a bundled or CONVEYOR_MODELS name")
    parser.add_argument("--prompt", default="a seven")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    args = parser.parse_args()

    registry = ModelRegistry.from_env()
    if args.device:
        registry = ModelRegistry(
            {n: registry.spec(n).path for n in registry.names() if n != "digits"},
            device=args.device,
        )
    model = registry.get(args.model)
    print(
        f"model {args.model} on {model.device}, {args.steps} steps, {args.images} images per "
        f"run, median of {args.repeat}"
    )
    original = GenerateImage.max_batch_size
    rates: dict[tuple[str, int], float] = {}
    try:
        with use_registry(registry):
            for batch in (1, args.batch):
                direct: list[float] = []
                queued: list[float] = []
                submits: list[float] = []
                overheads: list[float] = []
                for run in range(args.repeat):
                    # Back to back, alternating which goes first, so a noisy machine slows
                    # both sides of each overhead figure alike.
                    order = ("direct", "queue") if run % 2 == 0 else ("queue", "direct")
                    pair: dict[str, float] = {}
                    for side in order:
                        if side == "direct":
                            pair[side] = bench_direct(
                                batch,
                                args.images,
                                args.steps,
                                model=args.model,
                                prompt=args.prompt,
                                registry=registry,
                            )
                        else:
                            pair[side], submit = queue_rate(
                                registry, batch, args.images, args.steps, args.model, args.prompt
                            )
                            submits.append(submit)
                    direct.append(pair["direct"])
                    queued.append(pair["queue"])
                    overheads.append(1 - pair["queue"] / pair["direct"])
                rates["direct", batch] = statistics.median(direct)
                rates["queue", batch] = statistics.median(queued)
                print(
                    f"batch {batch:>3}: direct {rates['direct', batch]:8.2f} img/s   "
                    f"queue {rates['queue', batch]:8.2f} img/s   "
                    f"overhead {statistics.median(overheads):6.1%} "
                    f"(runs: {', '.join(f'{o:.1%}' for o in overheads)})   "
                    f"submit {statistics.median(submits) * 1000:.0f} ms for {args.images} jobs"
                )
    finally:
        GenerateImage.max_batch_size = original
    speedup = rates["queue", args.batch] / rates["queue", 1]
    print(
        f"batching speed-up through the queue at batch {args.batch}: {speedup:.2f}x "
        f"(direct: {rates['direct', args.batch] / rates['direct', 1]:.2f}x)"
    )


if __name__ == "__main__":
    main()
