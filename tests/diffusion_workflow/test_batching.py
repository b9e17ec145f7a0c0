"""Compatible image tasks of different jobs are claimed together and denoised in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from conveyor.diffusion import GenerationParams, ModelRegistry
from conveyor.diffusion.tasks import ContactSheet, Generate, GenerateImage
from conveyor.models import Job, JobState
from conveyor.workflows import Client

from .support import make_task, metadata, result


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the ``execute_batch`` calls the runner makes (a spy around the real one)."""
    calls: list[int] = []
    real = GenerateImage.execute_batch.__func__  # type: ignore[attr-defined]

    def spy(cls: type[GenerateImage], tasks: Sequence[Any], contexts: Sequence[Any]) -> Any:
        calls.append(len(tasks))
        return real(cls, tasks, contexts)

    monkeypatch.setattr(GenerateImage, "execute_batch", classmethod(spy))
    return calls


def _queue_images(client: Client, *tasks: Generate) -> list[str]:
    """Submit the jobs and run only their roots, so all image tasks wait in the queue."""
    jobs = client.jobs()
    ids = [str(jobs.submit("generate", task).id) for task in tasks]
    client.runner(tasks=[Generate]).run_all()
    return ids


def _finish(client: Client, ids: list[str]) -> list[Job]:
    client.runner(tasks=[GenerateImage, ContactSheet]).run_all()
    return [client.jobs().find(job_id) for job_id in ids]


def test_four_queued_compatible_jobs_make_one_batch(
    client: Client, registry: ModelRegistry, batch_calls: list[int]
) -> None:
    tasks = [make_task(registry, prompt=str(d), num_inference_steps=5, seed=d) for d in range(4)]
    jobs = _finish(client, _queue_images(client, *tasks))
    assert batch_calls == [4]
    batches = [metadata(client, job)["images"][0]["batch"] for job in jobs]
    assert len({b["id"] for b in batches}) == 1
    assert {b["size"] for b in batches} == {4}
    for job in jobs:  # each task kept its own progress and result
        assert job.state is JobState.COMPLETED
        assert [(p.label, p.total, p.done) for p in job.progress] == [
            ("denoise", 5, 5),
            ("images", 1, 1),
            ("upload", 2, 2),
        ]
    images = {result(client, job, "image_0.png") for job in jobs}
    assert len(images) == 4


def test_batches_hold_at_most_max_batch_size(
    client: Client,
    registry: ModelRegistry,
    batch_calls: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(GenerateImage, "max_batch_size", 2)
    tasks = [make_task(registry, num_inference_steps=3, seed=s) for s in range(5)]
    _finish(client, _queue_images(client, *tasks))
    assert batch_calls == [2, 2, 1]


def test_incompatible_jobs_never_share_a_batch(
    client: Client, registry: ModelRegistry, batch_calls: list[int]
) -> None:
    tasks = [
        make_task(registry, num_inference_steps=3, seed=1),
        make_task(registry, num_inference_steps=4, seed=1),  # other step count
        make_task(registry, num_inference_steps=3, seed=1, width=32, height=32),  # other size
        make_task(registry, num_inference_steps=3, seed=2),
    ]
    jobs = _finish(client, _queue_images(client, *tasks))
    assert sorted(batch_calls) == [1, 1, 2]
    ids = [metadata(client, job)["images"][0]["batch"]["id"] for job in jobs]
    assert ids[0] == ids[3] and len(set(ids)) == 3


def test_jobs_submitted_together_batch_through_one_runner(
    client: Client, registry: ModelRegistry, batch_calls: list[int]
) -> None:
    """No staging: one runner runs roots and images, and the images still share a batch
    (including image tasks it had already prefetched together with short root tasks)."""
    jobs = client.jobs()
    ids = [
        jobs.submit("generate", make_task(registry, num_inference_steps=3, seed=s)).id
        for s in range(4)
    ]
    client.runner(tasks=[Generate, GenerateImage, ContactSheet]).run_all()
    assert all(jobs.find(job_id).state is JobState.COMPLETED for job_id in ids)
    assert batch_calls == [4]


def test_a_task_the_model_cannot_honour_fails_alone(
    client: Client, registry: ModelRegistry, batch_calls: list[int]
) -> None:
    good = [make_task(registry, prompt=str(d), num_inference_steps=3, seed=d) for d in (1, 2)]
    ids = _queue_images(client, *good)
    # An image task submitted as a job of its own (POST /jobs can), with no digit to draw.
    bad_params = GenerationParams(
        "a cat", num_inference_steps=3, seed=1, width=64, height=64, guidance_scale=0.0
    )
    bad = client.jobs().submit("bad", GenerateImage(bad_params, 0))
    assert GenerateImage(bad_params, 0).batch_key() == GenerateImage(good[0].params, 0).batch_key()
    jobs = _finish(client, [*ids, str(bad.id)])
    assert batch_calls == [3]
    assert [job.state for job in jobs] == [JobState.COMPLETED, JobState.COMPLETED, JobState.FAILED]
    assert jobs[2].error is not None and jobs[2].error.type == "InvalidParamsError"
