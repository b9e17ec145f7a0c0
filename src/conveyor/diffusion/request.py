"""What one generation request asks for, and how requests are grouped into batches.

Kept free of torch so the API process can validate and store requests without loading any
model; workers turn the same objects into images.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import NamedTuple

from conveyor.diffusion.errors import InvalidParamsError

__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "MAX_INFERENCE_STEPS",
    "MAX_SEED",
    "BatchKey",
    "GenerationItem",
    "GenerationParams",
]

MAX_SEED = 2**63 - 1
MAX_INFERENCE_STEPS = 500
MAX_IMAGES_PER_REQUEST = 64
MAX_PROMPT_CHARS = 2000


class BatchKey(NamedTuple):
    """Requests with equal keys can be denoised together as one batch.

    Everything that shapes the tensors or the denoising loop is in the key; the prompt and the
    seed are not, because every item carries its own conditioning and its own noise.
    """

    model: str
    width: int | None
    height: int | None
    num_inference_steps: int
    guidance_scale: float | None


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """One request: ``num_images`` images for ``prompt`` from ``model``.

    ``None`` for ``width``/``height``/``guidance_scale`` means "the model's default" (see
    :meth:`conveyor.diffusion.ModelRegistry.resolve`, which fills them in without loading the
    model). ``seed`` ``None`` means random; call :meth:`with_seed` before storing a request so
    that a retried job redraws exactly the same images. Image ``i`` uses seed ``seed + i``.
    """

    prompt: str
    model: str = "digits"
    num_inference_steps: int = 20
    guidance_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    num_images: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidParamsError("prompt must be a non-empty string")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise InvalidParamsError(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
        if not isinstance(self.model, str) or not self.model:
            raise InvalidParamsError("model must be a non-empty string")
        _check_int("num_inference_steps", self.num_inference_steps, 1, MAX_INFERENCE_STEPS)
        _check_int("num_images", self.num_images, 1, MAX_IMAGES_PER_REQUEST)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, MAX_SEED)
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 1, 4096)
        if self.guidance_scale is not None:
            if isinstance(self.guidance_scale, bool) or not isinstance(
                self.guidance_scale, int | float
            ):
                raise InvalidParamsError("guidance_scale must be a number")
            if not 0.0 <= float(self.guidance_scale) <= 100.0:
                raise InvalidParamsError("guidance_scale must be between 0 and 100")
            object.__setattr__(self, "guidance_scale", float(self.guidance_scale))

    def batch_key(self) -> BatchKey:
        """The key under which this request may share a batch with others."""
        return BatchKey(
            self.model, self.width, self.height, self.num_inference_steps, self.guidance_scale
        )

    def with_seed(self, seed: int | None = None) -> GenerationParams:
        """A copy with a concrete seed: ``seed`` if given, the current one, or a random one."""
        if seed is None:
            if self.seed is not None:
                return self
            seed = secrets.randbelow(MAX_SEED + 1)
        return replace(self, seed=seed)

    def items(self) -> list[GenerationItem]:
        """One :class:`GenerationItem` per requested image, in order."""
        return [GenerationItem(self, i) for i in range(self.num_images)]


@dataclass(frozen=True, slots=True)
class GenerationItem:
    """Image number ``index`` of a request: the unit a model batches."""

    params: GenerationParams
    index: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.params.num_images:
            raise InvalidParamsError(
                f"image index {self.index} outside 0..{self.params.num_images - 1}"
            )

    @property
    def seed(self) -> int | None:
        """This image's own seed (``params.seed + index``), or ``None`` for a random one."""
        if self.params.seed is None:
            return None
        return (self.params.seed + self.index) % (MAX_SEED + 1)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParamsError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidParamsError(f"{name} must be between {low} and {high}, got {value}")
