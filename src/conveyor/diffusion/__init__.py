"""Image generation models behind one small interface, independent of the workflow engine.

Importing this package is cheap and torch-free (the API process imports it to validate
requests); torch, diffusers and Pillow are imported only when a model is loaded or an image
is encoded. Typical worker use::

    registry = ModelRegistry.from_env()
    params = registry.resolve(GenerationParams("a seven", seed=1, num_images=4))
    model = registry.get(params.model)
    images = model.generate(params.items(), on_step=report_progress)
    blobs = [encode_png(image) for image in images]
"""

from __future__ import annotations

from conveyor._torch_threads import keep_torch_threads_warm
from conveyor.diffusion.base import ImageModel, PreviewCallback, StepCallback
from conveyor.diffusion.bench import bench_direct
from conveyor.diffusion.errors import InvalidParamsError, ModelLoadError, UnknownModelError
from conveyor.diffusion.imaging import contact_sheet, encode_png
from conveyor.diffusion.prompts import parse_digit
from conveyor.diffusion.registry import (
    MODELS_ENV_VAR,
    ModelRegistry,
    default_registry,
    parse_models_setting,
)
from conveyor.diffusion.request import BatchKey, GenerationItem, GenerationParams
from conveyor.diffusion.spec import ModelSpec

__all__ = [
    "MODELS_ENV_VAR",
    "BatchKey",
    "GenerationItem",
    "GenerationParams",
    "ImageModel",
    "InvalidParamsError",
    "ModelLoadError",
    "ModelRegistry",
    "ModelSpec",
    "PreviewCallback",
    "StepCallback",
    "UnknownModelError",
    "bench_direct",
    "contact_sheet",
    "default_registry",
    "encode_png",
    "keep_torch_threads_warm",
    "parse_digit",
    "parse_models_setting",
]
