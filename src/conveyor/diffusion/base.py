"""The one interface workers use to turn request items into images, whatever the model.

A worker groups items by :meth:`GenerationParams.batch_key`, hands one group to
:meth:`ImageModel.generate` and gets one PIL image per item back, in order. Progress and
cancellation share one channel: ``on_step`` runs after every denoising step and whatever it
raises stops the loop inside that step and propagates to the caller unchanged.
"""

from __future__ import annotations

import abc
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from conveyor.diffusion.errors import InvalidParamsError
from conveyor.diffusion.request import MAX_SEED, GenerationItem
from conveyor.diffusion.spec import ModelSpec

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["ImageModel", "PreviewCallback", "StepCallback"]

StepCallback = Callable[[int, int], None]
"""``on_step(completed_steps, total_steps)``; ``completed_steps`` runs 1..total."""

PreviewCallback = Callable[[int, list["Image.Image"]], None]
"""``on_preview(completed_steps, images)`` with one rough image per item, in item order."""


class ImageModel(abc.ABC):
    """A loaded model. Instances are cached per process and shared between threads.

    :meth:`generate` serialises calls on one model with a lock: schedulers and pipelines keep
    per-call state, and one accelerator gains nothing from two interleaved batches.
    """

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def generate(
        self,
        items: Sequence[GenerationItem],
        on_step: StepCallback | None = None,
        preview_every: int | None = None,
        on_preview: PreviewCallback | None = None,
    ) -> list[Image.Image]:
        """Generate one image per item, as one batch.

        All items must share a :class:`~conveyor.diffusion.request.BatchKey` once resolved.
        Each item's noise comes from its own seed, so its image does not depend on what else
        is in the batch: the same batch always gives the same bytes, and the digits model
        gives the same bytes alone or in any batch. Pipelines batch through kernels picked by
        tensor shape, so across batch sizes their pixels may differ by a rounding step.
        ``on_preview`` runs every ``preview_every`` steps (not after the last step: the return
        value is the final image).
        """
        if not items:
            return []
        resolved = [replace(item, params=self.spec.resolve(item.params)) for item in items]
        keys = {item.params.batch_key() for item in resolved}
        if len(keys) != 1:
            raise InvalidParamsError(f"items of one batch must share a batch key, got {keys}")
        if preview_every is not None and preview_every < 1:
            raise InvalidParamsError("preview_every must be >= 1")
        if on_preview is None:
            preview_every = None
        with self._lock:
            return self._generate(resolved, on_step, preview_every, on_preview)

    @abc.abstractmethod
    def _generate(
        self,
        items: list[GenerationItem],
        on_step: StepCallback | None,
        preview_every: int | None,
        on_preview: PreviewCallback | None,
    ) -> list[Image.Image]:
        """Run one batch of already resolved, compatible items."""

    @staticmethod
    def _generators(items: Sequence[GenerationItem]) -> list[torch.Generator]:
        """One CPU generator per item, seeded from the item (random if it has no seed).

        CPU generators make an item's noise identical on every device and batch size.
        """
        import torch

        return [
            torch.Generator("cpu").manual_seed(
                item.seed if item.seed is not None else secrets.randbelow(MAX_SEED + 1)
            )
            for item in items
        ]
