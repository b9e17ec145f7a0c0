"""Denoising several image tasks as one model batch, each keeping its own progress and fate.

A worker hands compatible image tasks (same model, size, steps, guidance: one
:class:`~conveyor.diffusion.BatchKey`) to one :meth:`ImageModel.generate` call. The model
calls back after every step; that callback is where each task's ``denoise`` indicator moves,
where previews go out, and where cancellation is noticed. A cancelled task drops out of the
bookkeeping at once; when no task of the batch is left, the callback raises and the model
stops inside that step, so a cancelled batch stops computing within one step.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.diffusion.imaging import encode_png
from conveyor.diffusion.previews import PREVIEW_EVENT, preview_key, preview_path, shrink
from conveyor.diffusion.request import GenerationItem
from conveyor.exceptions import LeaseLostError, TaskCancelledError

if TYPE_CHECKING:
    from PIL import Image

    from conveyor.diffusion.base import ImageModel
    from conveyor.workflows.context import ExecutionContext, ProgressHandle

__all__ = ["BatchInfo", "Member", "denoise_batch"]

log = logging.getLogger("conveyor.diffusion")

#: What stops one task of a batch without failing the others.
STOPS = (TaskCancelledError, LeaseLostError)


@dataclass(eq=False)
class Member:
    """One image task inside a batch: its item, its context and what happened to it."""

    item: GenerationItem
    context: ExecutionContext
    preview_every: int | None = None
    #: The cancellation (or lost lease) that took it out of the batch, if any.
    stopped: BaseException | None = None
    steps: int = 0
    _denoise: ProgressHandle | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        return self.stopped is None

    def step(self) -> None:
        """Record one denoising step, or leave the batch if the task must stop."""
        try:
            self.context.raise_if_cancelled()
            if self.steps < self.item.params.num_inference_steps:
                if self._denoise is None:
                    self._denoise = self.context.progress("denoise")
                self._denoise.done(1)
                self.steps += 1
        except STOPS as exc:
            self.stopped = exc

    def preview(self, step: int, image: Image.Image) -> None:
        """Store a small PNG of the image so far and announce it on the job's event stream."""
        ctx = self.context
        index = self.item.index
        try:
            ctx.raise_if_cancelled()
            png = encode_png(shrink(image))
            ctx.blobs.put(preview_key(ctx.job_id, index, step), png, "image/png")
            ctx.publish(
                PREVIEW_EVENT,
                {
                    "url": preview_path(ctx.job_id, index, step),
                    "step": step,
                    "total": self.item.params.num_inference_steps,
                    "index": index,
                },
            )
        except STOPS as exc:
            self.stopped = exc
        except Exception:  # a lost preview is no reason to lose the image
            log.warning("preview of job %s image %s failed", ctx.job_id, index, exc_info=True)


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """Which model batch produced an image: recorded in the job's ``generation.json``."""

    id: str
    size: int
    seconds: float


class _BatchStopped(Exception):
    """Raised from the step callback once every task of the batch has stopped."""


def denoise_batch(
    model: ImageModel, members: Sequence[Member]
) -> tuple[list[Image.Image] | None, BatchInfo]:
    """Run ``members`` through ``model`` as one batch; None instead of images if all stopped.

    Members stopped midway still get their image computed when others go on (a batch cannot
    shrink inside the model), but the caller reports them cancelled, not completed.
    """
    everies = [m.preview_every for m in members if m.preview_every]
    # One preview cadence for the batch that serves every member's own cadence.
    preview_every = math.gcd(*everies) if everies else None

    def on_step(step: int, total: int) -> None:
        for member in members:
            if member.live:
                member.step()
        if not any(member.live for member in members):
            raise _BatchStopped

    def on_preview(step: int, images: list[Image.Image]) -> None:
        for member, image in zip(members, images, strict=False):
            every = member.preview_every
            if member.live and every and step % every == 0:
                member.preview(step, image)

    info_id = uuid.uuid4().hex
    started = time.perf_counter()
    try:
        images: list[Image.Image] | None = model.generate(
            [m.item for m in members],
            on_step=on_step,
            preview_every=preview_every,
            on_preview=on_preview if preview_every else None,
        )
    except _BatchStopped:
        images = None
    return images, BatchInfo(info_id, len(members), time.perf_counter() - started)
