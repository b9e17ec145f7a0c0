"""The bundled class-conditional digits model: 16x16 greyscale digits from a tiny UNet.

It exists so the whole system (API, workers, progress, cancellation, previews) can be run and
tested on any laptop in seconds, with a model small enough to ship inside the package. The
prompt is reduced to a class label by :func:`~conveyor.diffusion.prompts.parse_digit`.

The helpers that move between the 8x8 scikit-learn digits, the model's [-1, 1] tensors and
PIL images live here too, so training, the model and the quality test share one definition.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.diffusion.base import ImageModel, PreviewCallback, StepCallback
from conveyor.diffusion.errors import ModelLoadError
from conveyor.diffusion.loading import force_offline, load_kwargs, pin_dtype
from conveyor.diffusion.prompts import parse_digit
from conveyor.diffusion.request import GenerationItem
from conveyor.diffusion.spec import ModelSpec

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

__all__ = [
    "NATIVE_SIZE",
    "DigitsModel",
    "digit_features",
    "digits_to_tensor",
    "render_digits",
]

NATIVE_SIZE = 16
"""Side of the images the UNet works on: the 8x8 digits upsampled once (bilinear)."""

SAMPLERS = ("ddim", "dpmsolver")
DEFAULT_MICRO_BATCH = 8


def digits_to_tensor(images: np.ndarray) -> torch.Tensor:
    """scikit-learn digits ``(N, 8, 8)`` with values 0..16 → model space ``(N, 1, 16, 16)``.

    Values are scaled to [-1, 1] (ink = +1) and upsampled bilinearly, the representation the
    UNet is trained on.
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0 * 2.0 - 1.0
    return F.interpolate(x, size=NATIVE_SIZE, mode="bilinear", align_corners=False)


def render_digits(samples: torch.Tensor, width: int, height: int) -> list[Image.Image]:
    """Model-space tensors ``(N, 1, 16, 16)`` → greyscale PIL images, dark ink on white.

    Pixels are quantised to 8 bits at the native size and only then upscaled (bilinear), so
    the upscaled image is a pure function of 256 bytes per item.
    """
    import torch
    from PIL import Image

    ink = ((samples.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) / 2.0).reshape(
        -1, NATIVE_SIZE, NATIVE_SIZE
    )
    pixels = ((1.0 - ink) * 255.0).round().to(torch.uint8).numpy()
    images = []
    for plane in pixels:
        img = Image.fromarray(plane)  # 2-D uint8 → mode "L"
        if (width, height) != (NATIVE_SIZE, NATIVE_SIZE):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        images.append(img)
    return images


def digit_features(image: Image.Image) -> np.ndarray:
    """A rendered digit → the 64 features of scikit-learn's digits (8x8, 0 = paper, 16 = ink).

    Used to check generated images with a classifier trained on the real digits that went
    through :func:`digits_to_tensor` and :func:`render_digits` the same way.
    """
    import numpy as np
    from PIL import Image

    small = image.convert("L").resize((8, 8), Image.Resampling.BOX)
    return (16.0 * (1.0 - np.asarray(small, dtype=np.float64) / 255.0)).reshape(64)


class DigitsModel(ImageModel):
    """A diffusers ``UNet2DModel`` (``num_class_embeds=10``) sampled with DDIM or DPM-Solver.

    Always fp32: the model is tiny, so half precision would save nothing and cost accuracy.

    The UNet always runs on micro-batches of exactly ``micro_batch`` samples (the last one
    padded). Convolution and matrix-multiply kernels are chosen by tensor shape, and different
    kernels round differently (batch 1 and batch 100 disagree in the last bits, enough to flip
    a pixel now and then). With one fixed shape every sample goes through the same kernels
    wherever it sits, so an image's bytes are the same alone or in any batch: a retried job
    reproduces its blobs exactly. The price is that a lone image costs a micro-batch.
    """

    def __init__(
        self,
        spec: ModelSpec,
        device: torch.device,
        unet: Any,
        scheduler_config: dict[str, Any],
        sampler: str = "ddim",
        micro_batch: int = DEFAULT_MICRO_BATCH,
    ) -> None:
        super().__init__(spec, device)
        if sampler not in SAMPLERS:
            raise ModelLoadError(f"unknown sampler {sampler!r}; expected one of {SAMPLERS}")
        if micro_batch < 1:
            raise ModelLoadError(f"micro_batch must be >= 1, got {micro_batch}")
        self.unet = unet
        self.scheduler_config = scheduler_config
        self.sampler = sampler
        self.micro_batch = micro_batch
        self._scheduler: Any = None  # the pristine one new_scheduler copies

    @classmethod
    def load(cls, spec: ModelSpec, device: torch.device) -> DigitsModel:
        """Load the folder written by ``scripts/train_digits.py`` (never touches a hub)."""
        force_offline()
        import torch
        from diffusers import DDPMScheduler, UNet2DModel

        folder = Path(spec.path)
        try:
            meta = json.loads((folder / "conveyor.json").read_text(encoding="utf-8"))
            unet = UNet2DModel.from_pretrained(
                str(folder / "unet"), local_files_only=True, **load_kwargs(torch.float32)
            )
            scheduler_config = dict(DDPMScheduler.load_config(str(folder / "scheduler")))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load digits model from {str(folder)!r}: {exc}") from exc
        pin_dtype(unet.to(device).eval().requires_grad_(False))
        return cls(
            spec,
            device,
            unet,
            scheduler_config,
            sampler=meta.get("sampler", "ddim"),
            micro_batch=int(meta.get("micro_batch", DEFAULT_MICRO_BATCH)),
        )

    def new_scheduler(self) -> Any:
        """A fresh sampling scheduler: schedulers keep per-run state, so never share one.

        Each is a copy of one built on first use: building from the config validates it
        against the class's signature every time (1.4 ms against 0.15 ms for a copy here).
        """
        if self._scheduler is None:
            from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

            cls = DPMSolverMultistepScheduler if self.sampler == "dpmsolver" else DDIMScheduler
            self._scheduler = cls.from_config(self.scheduler_config)
        return copy.deepcopy(self._scheduler)

    def _generate(
        self,
        items: list[GenerationItem],
        on_step: StepCallback | None,
        preview_every: int | None,
        on_preview: PreviewCallback | None,
    ) -> list[Image.Image]:
        import torch

        params = items[0].params
        assert params.width is not None and params.height is not None  # resolved by generate()
        labels = torch.tensor([parse_digit(item.params.prompt) for item in items])
        noise = torch.stack(
            [
                torch.randn((1, NATIVE_SIZE, NATIVE_SIZE), generator=gen)
                for gen in self._generators(items)
            ]
        )
        count = len(items)
        padded = -count % self.micro_batch
        if padded:  # padding rows never influence real rows: every op is per sample
            noise = torch.cat([noise, noise.new_zeros((padded, *noise.shape[1:]))])
            labels = torch.cat([labels, labels.new_zeros(padded)])
        scheduler = self.new_scheduler()
        scheduler.set_timesteps(params.num_inference_steps)
        total = len(scheduler.timesteps)
        sample = noise.to(self.device)
        labels = labels.to(self.device)
        with torch.inference_mode():
            for i, t in enumerate(scheduler.timesteps):
                eps = self._predict_noise(sample, t, labels)
                step = scheduler.step(eps, t, sample)
                sample = step.prev_sample
                done = i + 1
                if on_step is not None:
                    on_step(done, total)
                if preview_every and on_preview and done % preview_every == 0 and done < total:
                    # The predicted clean image reads better than the noisy current sample.
                    guess = getattr(step, "pred_original_sample", None)
                    guess = sample if guess is None else guess
                    on_preview(done, render_digits(guess[:count], params.width, params.height))
        return render_digits(sample[:count], params.width, params.height)

    def _predict_noise(self, sample: torch.Tensor, t: Any, labels: torch.Tensor) -> torch.Tensor:
        """Run the UNet micro-batch by micro-batch (see the class docstring for why)."""
        import torch

        size = self.micro_batch
        return torch.cat(
            [
                self.unet(sample[i : i + size], t, class_labels=labels[i : i + size]).sample
                for i in range(0, len(sample), size)
            ]
        )
