"""The generation workflow: ``Generate`` → one ``GenerateImage`` per image → ``ContactSheet``.

Run them with ``conveyor worker conveyor.diffusion.tasks``. A job's root ``Generate`` sets
the totals of its three indicators (``denoise``: steps x images, ``images``, ``upload``:
images + the contact sheet) and fans out. Image tasks of any jobs that share a batch key are
claimed together (up to ``$CONVEYOR_MAX_BATCH_SIZE``, default 8) and denoised in one model
call, each with its own progress, cancellation and result. The final ``ContactSheet`` depends
on every image task and builds the sheet from the PNGs they left in the job cache.

Importing this module is torch-free (the API validates requests against it); torch and the
model load on a worker, once per process, when the first image task runs.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from conveyor.diffusion.batching import BatchInfo, Member, denoise_batch
from conveyor.diffusion.imaging import contact_sheet, encode_png
from conveyor.diffusion.request import GenerationItem, GenerationParams
from conveyor.diffusion.runtime import batch_size_setting, batch_wait_setting, current_registry
from conveyor.exceptions import TaskCancelledError
from conveyor.workflows import ExecutionContext, Task

if TYPE_CHECKING:
    from conveyor.diffusion.base import ImageModel
    from conveyor.diffusion.registry import ModelRegistry

__all__ = [
    "CONTACT_SHEET",
    "DIFFUSION_TASKS",
    "METADATA",
    "ContactSheet",
    "Generate",
    "GenerateImage",
    "image_name",
]

log = logging.getLogger("conveyor.diffusion")

CONTACT_SHEET = "contact_sheet.png"
METADATA = "generation.json"
#: Job cache keys of image ``i``: its PNG and JSON about how it was made. Both are small, so
#: they are rows of the store, committed with the image task (no file, no folder).
_PNG_KEY = "image-{}.png"
_META_KEY = "image-{}.json"
#: Where earlier versions left them (groups ``images`` and ``meta``): a job whose image tasks
#: ran before an upgrade still gets its contact sheet.
_OLD_PNG_KEY = "images/{}"
_OLD_META_KEY = "meta/{}"


def _read_images(cache: Any, count: int) -> tuple[list[bytes], list[bytes]]:
    """The PNG and JSON entries of images 0..count-1, from one read of the job cache (a
    second one for entries only the old keys hold); KeyError if one is missing."""
    pairs = [(_PNG_KEY, _OLD_PNG_KEY), (_META_KEY, _OLD_META_KEY)]
    old_of = {k.format(i): o.format(i) for i in range(count) for k, o in pairs}
    found = cache.get_many(list(old_of))
    old = {k: o for k, o in old_of.items() if k not in found}
    if old:
        older = cache.get_many(list(old.values()))
        for key, old_key in old.items():
            if old_key not in older:
                raise KeyError(key)
            found[key] = older[old_key]
    return (
        [found[_PNG_KEY.format(i)] for i in range(count)],
        [found[_META_KEY.format(i)] for i in range(count)],
    )


#: A generation job's progress indicators, in the order clients see them.
INDICATORS = ("denoise", "images", "upload")


def image_name(index: int) -> str:
    """The result name of image ``index`` of a job."""
    return f"image_{index}.png"


def _prompt_of(params: GenerationParams, prompts: Sequence[str] | None, index: int) -> str:
    return prompts[index] if prompts else params.prompt


class Generate(Task):
    """Root of a generation job: ``params.num_images`` images (or one per ``prompts`` entry).

    ``params`` should carry a seed (the API fixes one at submit with ``with_seed``) so a
    retried job redraws the same images; without one, this task draws it. ``preview_every``
    asks for a low-resolution preview event every that many steps.
    """

    params: GenerationParams
    prompts: list[str] | None = None
    preview_every: int | None = None

    @classmethod
    def identifier(cls) -> tuple[str, str]:
        return "Generate", "v1"

    def execute(self, context: ExecutionContext) -> None:
        params = self.resolved()
        count = params.num_images
        context.progress("denoise").add(params.num_inference_steps * count)
        context.progress("images").add(count)
        context.progress("upload").add(count + 1)
        images = [
            context.submit_subtask(
                GenerateImage(
                    replace(params, prompt=_prompt_of(params, self.prompts, i)),
                    i,
                    self.preview_every,
                ),
                max_retries=1,
            )
            for i in range(count)
        ]
        context.submit_subtask(ContactSheet(params, self.prompts), depends_on=images)

    def resolved(self) -> GenerationParams:
        """The parameters with the model's defaults filled in, checked, and seeded."""
        params = self.params
        if self.prompts:
            if params.num_images != len(self.prompts):
                params = replace(params, num_images=len(self.prompts))
            registry = current_registry()
            for prompt in self.prompts:  # each prompt must suit the model (a digit, ...)
                registry.resolve(replace(params, prompt=prompt))
        return current_registry().resolve(params).with_seed()


class GenerateImage(Task):
    """Image ``index`` of a job, batchable with every image task of the same batch key."""

    params: GenerationParams
    index: int
    preview_every: int | None = None

    max_batch_size: ClassVar[int] = batch_size_setting()
    batch_wait: ClassVar[float] = batch_wait_setting()

    @classmethod
    def identifier(cls) -> tuple[str, str]:
        return "GenerateImage", "v1"

    def batch_key(self) -> str:
        """Everything that shapes the model's tensors: model, size, steps, guidance."""
        return json.dumps(list(self.params.batch_key()), separators=(",", ":"))

    def item(self) -> GenerationItem:
        return GenerationItem(self.params, self.index)

    def execute(self, context: ExecutionContext) -> None:
        """Run alone (what a runner does when batching is off)."""
        (outcome,) = self.execute_batch([self], [context])
        if outcome is not None:
            raise outcome

    @classmethod
    def execute_batch(
        cls, tasks: Sequence[Task], contexts: Sequence[ExecutionContext]
    ) -> list[BaseException | None]:
        """Denoise the tasks' images together; one outcome per task (None: success)."""
        outcomes: list[BaseException | None] = [None] * len(tasks)
        members: list[tuple[int, GenerateImage, Member]] = []
        registry = current_registry()
        for slot, (task, context) in enumerate(zip(tasks, contexts, strict=True)):
            assert isinstance(task, GenerateImage)
            try:
                context.raise_if_cancelled()  # cancelled while it waited for the batch
                # A task the model cannot honour fails alone instead of failing its batch.
                task = replace(task, params=registry.resolve(task.params))
                members.append((slot, task, Member(task.item(), context, task.preview_every)))
            except Exception as exc:
                outcomes[slot] = exc
        if not members:
            return outcomes
        try:
            model = _warm_model(registry, members[0][1].params.model)
            limit = max(1, registry.spec(model.name).max_batch_size)
        except Exception as exc:
            for slot, _, _ in members:
                outcomes[slot] = exc
            return outcomes
        for start in range(0, len(members), limit):
            chunk = members[start : start + limit]
            try:
                images, info = denoise_batch(model, [m for _, _, m in chunk])
            except Exception as exc:
                for slot, _, member in chunk:
                    outcomes[slot] = member.stopped or exc
                continue
            log.debug("denoised a batch of %d in %.3f s", info.size, info.seconds)
            for position, (slot, task, member) in enumerate(chunk):
                if member.stopped is not None or images is None:
                    outcomes[slot] = member.stopped or TaskCancelledError("batch stopped")
                    continue
                try:
                    task._store(member.context, images[position], info)
                except Exception as exc:
                    outcomes[slot] = exc
        for slot, context in enumerate(contexts):
            # Cancelled after its last step: the job is CANCELED, so is this task.
            if outcomes[slot] is None and context.cancelled:
                outcomes[slot] = TaskCancelledError(f"job {context.job_id} was cancelled")
        return outcomes

    def _store(self, context: ExecutionContext, image: Any, batch: BatchInfo) -> None:
        """Save the image as a result and in the job cache (for the contact sheet)."""
        png = encode_png(image)
        context.progress("images").done(1)
        context.job_cache[_PNG_KEY.format(self.index)] = png
        meta = {
            "index": self.index,
            "name": image_name(self.index),
            "prompt": self.params.prompt,
            "seed": self.item().seed,
            "batch": {"id": batch.id, "size": batch.size, "seconds": round(batch.seconds, 4)},
        }
        context.job_cache[_META_KEY.format(self.index)] = json.dumps(meta).encode()
        context.save_result(image_name(self.index), png, "image/png")
        context.progress("upload").done(1)


def _warm_model(registry: ModelRegistry, name: str) -> ImageModel:
    """The loaded model: loaded on this process's first task that needs it, then kept."""
    if name in registry.loaded():
        return registry.get(name)
    started = time.perf_counter()
    model = registry.get(name)
    log.info(
        "loaded model %s on %s in %.1f s; kept for later tasks",
        name,
        model.device,
        time.perf_counter() - started,
    )
    return model


class ContactSheet(Task):
    """Final task: one PNG with every image of the job, plus ``generation.json``.

    The sheet of a one-image job is that image's PNG as it is: there is nothing to lay
    out, and decoding and encoding the image again cost each such job about 0.3 ms of a
    worker's CPU.
    """

    params: GenerationParams
    prompts: list[str] | None = None

    @classmethod
    def identifier(cls) -> tuple[str, str]:
        return "ContactSheet", "v1"

    def execute(self, context: ExecutionContext) -> None:
        from PIL import Image

        count = self.params.num_images
        pngs, metas = _read_images(context.job_cache, count)
        if count == 1:
            sheet = pngs[0]
        else:
            images = [Image.open(io.BytesIO(png)) for png in pngs]
            # One row up to ten images (the digits 0-9 read left to right), near-square beyond.
            columns = count if count <= 10 else math.ceil(math.sqrt(count))
            sheet = encode_png(contact_sheet(images, columns=columns))
        context.save_result(CONTACT_SHEET, sheet, "image/png")
        context.progress("upload").done(1)
        summary = {
            "model": self.params.model,
            "prompt": self.params.prompt,
            "prompts": self.prompts,
            "seed": self.params.seed,
            "num_inference_steps": self.params.num_inference_steps,
            "guidance_scale": self.params.guidance_scale,
            "width": self.params.width,
            "height": self.params.height,
            "num_images": count,
            "contact_sheet": CONTACT_SHEET,
            "images": [json.loads(meta) for meta in metas],
        }
        context.save_result(METADATA, json.dumps(summary, indent=1).encode(), "application/json")


DIFFUSION_TASKS: list[type[Task]] = [Generate, GenerateImage, ContactSheet]
