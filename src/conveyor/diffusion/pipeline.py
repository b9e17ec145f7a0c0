"""Any local diffusers text-to-image pipeline folder (Stable Diffusion first) as an ImageModel.

Loading is strictly offline (see :mod:`conveyor.diffusion.loading`): a missing file is an
error here, never a download. Progress and cancellation ride on the pipeline's
``callback_on_step_end``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from conveyor.diffusion.base import ImageModel, PreviewCallback, StepCallback
from conveyor.diffusion.errors import ModelLoadError
from conveyor.diffusion.loading import force_offline, load_kwargs, pin_dtype
from conveyor.diffusion.request import GenerationItem
from conveyor.diffusion.spec import ModelSpec

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["PipelineModel"]

_REQUIRED_CALL_ARGS = (
    "prompt",
    "num_inference_steps",
    "guidance_scale",
    "generator",
    "width",
    "height",
    "output_type",
    "callback_on_step_end",
)


class PipelineModel(ImageModel):
    """Wraps a loaded ``diffusers.DiffusionPipeline`` that turns text into images."""

    def __init__(self, spec: ModelSpec, device: torch.device, pipeline: Any) -> None:
        super().__init__(spec, device)
        self.pipeline = pipeline

    @classmethod
    def load(cls, spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> PipelineModel:
        """Load ``spec.path`` onto ``device`` in ``dtype``; fail clearly, never download."""
        force_offline()
        from diffusers import DiffusionPipeline, ModelMixin

        try:
            pipeline = DiffusionPipeline.from_pretrained(
                str(spec.path), local_files_only=True, **load_kwargs(dtype)
            )
        except (OSError, ValueError, TypeError, ImportError) as exc:
            raise ModelLoadError(
                f"cannot load model {spec.name!r} from {str(spec.path)!r}: {exc}"
            ) from exc
        accepted = inspect.signature(pipeline.__call__).parameters
        missing = [arg for arg in _REQUIRED_CALL_ARGS if arg not in accepted]
        if missing:
            raise ModelLoadError(
                f"model {spec.name!r} ({type(pipeline).__name__}) is not a text-to-image "
                f"pipeline Conveyor can drive: its __call__ lacks {', '.join(missing)}"
            )
        pipeline.to(device)
        for component in pipeline.components.values():
            if isinstance(component, ModelMixin):
                pin_dtype(component)
        pipeline.set_progress_bar_config(disable=True)
        return cls(spec, device, pipeline)

    def _generate(
        self,
        items: list[GenerationItem],
        on_step: StepCallback | None,
        preview_every: int | None,
        on_preview: PreviewCallback | None,
    ) -> list[Image.Image]:
        import torch

        pipe = self.pipeline
        params = items[0].params
        steps = params.num_inference_steps

        def callback(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
            # Some schedulers (Heun, ...) run more timesteps than inference steps.
            total = getattr(pipeline, "num_timesteps", None) or steps
            done = step + 1
            if on_step is not None:
                on_step(done, total)  # an exception here ends the pipeline call right away
            if preview_every and on_preview and done % preview_every == 0 and done < total:
                latents = tensors.get("latents")
                if latents is not None:
                    on_preview(done, self._decode_preview(latents))
            return {}

        with torch.inference_mode():
            output = pipe(
                prompt=[item.params.prompt for item in items],
                num_inference_steps=steps,
                guidance_scale=params.guidance_scale,
                width=params.width,
                height=params.height,
                generator=self._generators(items),
                output_type="pil",
                callback_on_step_end=callback,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        return list(output.images)

    def _decode_preview(self, latents: torch.Tensor) -> list[Image.Image]:
        """Decode the current latents through the VAE: noisy early, useful late."""
        pipe = self.pipeline
        vae = getattr(pipe, "vae", None)
        processor = getattr(pipe, "image_processor", None)
        if vae is None or processor is None:
            return []
        decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
        return processor.postprocess(decoded, output_type="pil")
