"""A generation job through the embedded client and a real runner: progress, results, seeds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from conveyor.diffusion import GenerationParams, ModelRegistry
from conveyor.diffusion.previews import preview_key
from conveyor.diffusion.tasks import ContactSheet, Generate, GenerateImage
from conveyor.models import JobState, TaskState
from conveyor.workflows import Client

from .support import events, make_task, metadata, result, run_jobs


def _png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_job_is_a_workflow_with_named_progress_and_a_contact_sheet(
    client: Client, registry: ModelRegistry
) -> None:
    (job,) = run_jobs(
        client,
        make_task(
            registry, prompt="a seven", num_images=3, num_inference_steps=6, width=32, height=32
        ),
    )
    assert job.state is JobState.COMPLETED, job.error
    progress = [(p.label, p.total, p.done) for p in job.progress]
    assert progress == [("denoise", 18, 18), ("images", 3, 3), ("upload", 4, 4)]

    names = {r.name: r.content_type for r in job.results}
    assert names == {
        "image_0.png": "image/png",
        "image_1.png": "image/png",
        "image_2.png": "image/png",
        "contact_sheet.png": "image/png",
        "generation.json": "application/json",
    }
    for i in range(3):
        assert _png(result(client, job, f"image_{i}.png")).size == (32, 32)
    # One row of three 32 px cells with 2 px padding around each.
    assert _png(result(client, job, "contact_sheet.png")).size == (3 * 32 + 4 * 2, 32 + 2 * 2)

    tasks = client.jobs().tasks(job.id)
    kinds = sorted(t.identifier for t in tasks)
    assert kinds == ["ContactSheet", "Generate", "GenerateImage", "GenerateImage", "GenerateImage"]
    sheet = next(t for t in tasks if t.identifier == "ContactSheet")
    images = {t.id for t in tasks if t.identifier == "GenerateImage"}
    assert set(sheet.depends_on) == images
    assert all(t.state is TaskState.COMPUTED for t in tasks)

    meta = metadata(client, job)
    seed = meta["seed"]
    assert isinstance(seed, int)
    assert [image["seed"] for image in meta["images"]] == [seed, seed + 1, seed + 2]
    assert (meta["width"], meta["height"], meta["num_inference_steps"]) == (32, 32, 6)


def test_one_image_per_prompt(client: Client, registry: ModelRegistry) -> None:
    prompts = ["zero", "one", "2", "draw the digit three"]
    (job,) = run_jobs(client, make_task(registry, prompts=prompts, num_inference_steps=4))
    assert job.state is JobState.COMPLETED, job.error
    meta = metadata(client, job)
    assert [image["prompt"] for image in meta["images"]] == prompts
    assert meta["num_images"] == 4
    sheet = _png(result(client, job, "contact_sheet.png"))
    assert sheet.size == (4 * 64 + 5 * 2, 64 + 2 * 2)  # the digits model's default 64 px


def test_same_seed_and_params_give_the_same_bytes(client: Client, registry: ModelRegistry) -> None:
    first, second, other = run_jobs(
        client,
        make_task(registry, num_images=2, num_inference_steps=5, seed=42),
        make_task(registry, num_images=2, num_inference_steps=5, seed=42),
        make_task(registry, num_images=2, num_inference_steps=5, seed=43),
    )
    for i in range(2):
        name = f"image_{i}.png"
        assert result(client, first, name) == result(client, second, name)
    assert result(client, first, "image_0.png") != result(client, other, "image_0.png")
    # seed 43's first image is seed 42's second one
    assert result(client, first, "image_1.png") == result(client, other, "image_0.png")


def test_batched_and_one_at_a_time_give_identical_bytes(
    client: Client, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_task(registry, num_images=4, num_inference_steps=5, seed=7)
    monkeypatch.setattr(GenerateImage, "max_batch_size", 1)
    (alone,) = run_jobs(client, task)
    monkeypatch.setattr(GenerateImage, "max_batch_size", 8)
    (batched,) = run_jobs(client, task)
    assert [i["batch"]["size"] for i in metadata(client, alone)["images"]] == [1, 1, 1, 1]
    assert [i["batch"]["size"] for i in metadata(client, batched)["images"]] == [4, 4, 4, 4]
    for name in ("image_0.png", "image_1.png", "image_2.png", "image_3.png", "contact_sheet.png"):
        assert result(client, alone, name) == result(client, batched, name)


def test_seed_is_fixed_before_the_images_are_drawn(client: Client, registry: ModelRegistry) -> None:
    task = make_task(registry, num_inference_steps=3)
    assert task.params.seed is not None  # fixed at submit: a retried job redraws the same
    # A root submitted without a seed (SDK use) draws one before fanning out.
    bare = Generate(GenerationParams("3", num_inference_steps=3))
    (job,) = run_jobs(client, bare)
    assert job.state is JobState.COMPLETED
    seeds = {t.input["params"]["seed"] for t in client.jobs().tasks(job.id) if t.parent_id}
    assert len(seeds) == 1 and None not in seeds


def test_previews_are_published_with_servable_blobs(
    client: Client, registry: ModelRegistry
) -> None:
    (job,) = run_jobs(
        client, make_task(registry, num_images=2, num_inference_steps=6, preview_every=2)
    )
    assert job.state is JobState.COMPLETED
    previews = events(client, job.id, "preview")
    # every 2 steps but not after the last one (the final image is the result)
    assert sorted((p["index"], p["step"]) for p in previews) == [(0, 2), (0, 4), (1, 2), (1, 4)]
    for p in previews:
        assert p["url"] == f"/jobs/{job.id}/previews/{p['index']}/{p['step']}.png"
        assert p["total"] == 6
        image = _png(client.blobs.get(preview_key(job.id, p["index"], p["step"])))
        assert max(image.size) <= 128


def test_the_contact_sheet_of_one_image_is_that_image(
    client: Client, registry: ModelRegistry
) -> None:
    (job,) = run_jobs(client, make_task(registry, num_images=1, num_inference_steps=3))
    assert job.state is JobState.COMPLETED, job.error
    assert result(client, job, "contact_sheet.png") == result(client, job, "image_0.png")
    assert metadata(client, job)["contact_sheet"] == "contact_sheet.png"
    # On a local store the PNG is one file under two names (the job cache holds it in the
    # database): a one-image job creates 2 files and its folder.
    root = client.blobs.root  # type: ignore[attr-defined]
    folder = root / "jobs" / str(job.id)
    assert sorted(p.name for p in folder.rglob("*")) == [
        "contact_sheet.png",
        "generation.json",
        "image_0.png",
    ]
    assert (folder / "image_0.png").stat().st_ino == (folder / "contact_sheet.png").stat().st_ino


def test_contact_sheet_reads_the_job_cache(client: Client, registry: ModelRegistry) -> None:
    """The final task depends on the image tasks and finds their PNGs in the job cache."""
    (job,) = run_jobs(client, make_task(registry, num_images=2, num_inference_steps=3))
    assert client.store.list_cache_keys(job.id) == [
        "image-0.json",
        "image-0.png",
        "image-1.json",
        "image-1.png",
    ]
    entry = client.store.get_cache_entry(job.id, "image-1.png")
    assert entry is not None and result(client, job, "image_1.png") == entry.value
    assert ContactSheet.identifier() == ("ContactSheet", "v1")


def test_contact_sheet_of_a_job_cached_by_an_earlier_version(
    client: Client, registry: ModelRegistry
) -> None:
    """Image tasks that ran before an upgrade left their PNGs in the groups ``images`` and
    ``meta``: the contact sheet that runs after it still finds them."""
    (done,) = run_jobs(client, make_task(registry, num_images=2, num_inference_steps=3))
    params = make_task(registry, num_images=2, num_inference_steps=3).resolved()
    job = client.jobs().submit("upgraded", ContactSheet(params))
    for i in range(2):  # what the earlier version's image tasks wrote
        for old, new in ((f"images/{i}", f"image-{i}.png"), (f"meta/{i}", f"image-{i}.json")):
            entry = client.store.get_cache_entry(done.id, new)
            assert entry is not None and entry.value is not None
            client.blobs.put(f"jobs/{job.id}/cache/{old}", entry.value)
    client.runner(tasks=[ContactSheet]).run_all()
    upgraded = client.jobs().find(job.id)
    assert upgraded.state is JobState.COMPLETED, upgraded.error
    assert result(client, upgraded, "contact_sheet.png") == result(
        client, done, "contact_sheet.png"
    )
    assert metadata(client, upgraded)["images"] == metadata(client, done)["images"]
