"""Direct (engine-free) generation throughput: the baseline the workflow engine is judged by.

Running the model straight, with no queue, store or API in between, gives the ceiling that
end-to-end benchmarks compare against.
"""

from __future__ import annotations

import math
import time

from conveyor.diffusion.registry import ModelRegistry
from conveyor.diffusion.request import GenerationParams

__all__ = ["bench_direct"]


def bench_direct(
    batch_size: int,
    n_images: int,
    steps: int = 20,
    *,
    model: str = "digits",
    prompt: str = "a seven",
    width: int | None = None,
    height: int | None = None,
    registry: ModelRegistry | None = None,
) -> float:
    """Generate ``n_images`` in batches of ``batch_size``; return images per second.

    The model is loaded and warmed up (one batch) before timing starts, so the figure is
    steady-state throughput. Seeds are fixed, so repeated runs do identical work.
    """
    if batch_size < 1 or n_images < 1:
        raise ValueError("batch_size and n_images must be >= 1")
    registry = registry or ModelRegistry()
    params = registry.resolve(
        GenerationParams(
            prompt,
            model=model,
            num_inference_steps=steps,
            seed=0,
            width=width,
            height=height,
            num_images=batch_size,
        )
    )
    engine = registry.get(model)
    items = params.items()
    engine.generate(items)  # warm-up: lazy init, allocator, kernels
    batches = math.ceil(n_images / batch_size)
    start = time.perf_counter()
    done = 0
    for _ in range(batches):
        count = min(batch_size, n_images - done)
        engine.generate(items[:count])
        done += count
    return done / (time.perf_counter() - start)
