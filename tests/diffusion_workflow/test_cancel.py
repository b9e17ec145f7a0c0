"""Cancelling a job stops the denoising loop within one step: counted in UNet forward calls.

A forward hook on the loaded digits UNet counts every forward pass the worker computes. At
forward call ``k`` the hook cancels the job through the public client and then holds that
step for a while, long enough for the runner's keeper thread to see the cancellation. The
step callback right after that step must stop the loop, so exactly ``k`` forward passes are
ever computed (the digits model runs a batch of up to 8 images as one pass per step).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from conveyor.diffusion import ModelRegistry
from conveyor.diffusion.tasks import ContactSheet, Generate, GenerateImage
from conveyor.models import JobState, TaskState
from conveyor.workflows import Client

from .support import make_task, result

CANCEL_CHECK = 0.05  # the runner's cancel_check_interval in these tests
HOLD = 0.6  # how long the hook holds the step in which it cancels


@contextmanager
def forward_calls(
    registry: ModelRegistry, at: int | None = None, action: Callable[[], object] | None = None
) -> Iterator[list[float]]:
    """Times of the digits UNet's forward calls; at call ``at``, run ``action`` and hold."""
    unet = registry.get("digits").unet  # type: ignore[attr-defined]
    calls: list[float] = []

    def hook(*_: Any) -> None:
        calls.append(time.monotonic())
        if at is not None and action is not None and len(calls) == at:
            action()
            time.sleep(HOLD)

    handle = unet.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


def _run_images(client: Client, *tasks: Generate) -> list[str]:
    """Run the roots first so every image task is queued, then one runner for the images."""
    jobs = client.jobs()
    ids = [str(jobs.submit("generate", task).id) for task in tasks]
    client.runner(tasks=[Generate]).run_all()
    return ids


def _image_task_states(client: Client, job_id: str) -> list[TaskState]:
    return [t.state for t in client.jobs().tasks(job_id) if t.identifier == "GenerateImage"]


def _runner(client: Client) -> Any:
    return client.runner(tasks=[GenerateImage, ContactSheet], cancel_check_interval=CANCEL_CHECK)


def test_cancel_stops_the_loop_within_one_step(client: Client, registry: ModelRegistry) -> None:
    (job_id,) = _run_images(client, make_task(registry, num_inference_steps=200, seed=1))
    runner = _runner(client)
    with forward_calls(registry, at=5, action=lambda: client.jobs().cancel(job_id)) as calls:
        started = time.monotonic()
        runner.run_all()
        elapsed = time.monotonic() - started
        assert len(calls) == 5  # the step being computed when it was cancelled, no more
        time.sleep(0.3)
        assert len(calls) == 5  # and nothing computes in the background either
    job = client.jobs().find(job_id)
    assert job.state is JobState.CANCELED
    assert _image_task_states(client, job_id) == [TaskState.CANCELED]
    assert elapsed < HOLD + 5  # 195 more steps would have taken far longer
    assert not job.results


def test_a_cancelled_job_in_a_batch_leaves_the_others_running(
    client: Client, registry: ModelRegistry
) -> None:
    steps = 12
    keep_id, drop_id = _run_images(
        client,
        make_task(registry, prompt="3", num_inference_steps=steps, seed=5),
        make_task(registry, prompt="4", num_inference_steps=steps, seed=6),
    )
    with forward_calls(registry, at=4, action=lambda: client.jobs().cancel(drop_id)) as calls:
        _runner(client).run_all()
    assert len(calls) == steps  # the batch went on for the job still wanted
    kept, dropped = client.jobs().find(keep_id), client.jobs().find(drop_id)
    assert kept.state is JobState.COMPLETED
    assert dropped.state is JobState.CANCELED
    assert _image_task_states(client, drop_id) == [TaskState.CANCELED]
    assert not dropped.results
    # The survivor's image is exactly what it would have been alone.
    alone_task = make_task(registry, prompt="3", num_inference_steps=steps, seed=5)
    (again,) = _run_images(client, alone_task)
    _runner(client).run_all()
    alone = client.jobs().find(again)
    assert result(client, alone, "image_0.png") == result(client, kept, "image_0.png")


def test_cancelling_every_job_of_a_batch_stops_it(client: Client, registry: ModelRegistry) -> None:
    ids = _run_images(
        client,
        *(make_task(registry, num_inference_steps=100, seed=s) for s in range(3)),
    )

    def cancel_all() -> None:
        for job_id in ids:
            client.jobs().cancel(job_id)

    with forward_calls(registry, at=3, action=cancel_all) as calls:
        _runner(client).run_all()
        assert len(calls) == 3
    for job_id in ids:
        assert client.jobs().find(job_id).state is JobState.CANCELED
        assert _image_task_states(client, job_id) == [TaskState.CANCELED]


def test_a_job_cancelled_while_queued_never_computes(
    client: Client, registry: ModelRegistry
) -> None:
    (job_id,) = _run_images(client, make_task(registry, num_inference_steps=50, seed=1))
    client.jobs().cancel(job_id)
    with forward_calls(registry) as calls:
        _runner(client).run_all()
    assert calls == []
    assert client.jobs().find(job_id).state is JobState.CANCELED
