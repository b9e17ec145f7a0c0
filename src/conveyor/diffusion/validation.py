"""Checking a generation request before it is queued, naming the field at fault.

The API must refuse what a worker would refuse (unknown model, a size the model cannot make,
a digits prompt without a digit) at submit time, with a ``422`` that says which field is
wrong, and without importing torch: everything here reads model specs only. The result is
the job's root task, with the model's defaults filled in and the seed fixed, so a retried
job redraws exactly the same images.
"""

from __future__ import annotations

from dataclasses import replace

from conveyor.diffusion.errors import InvalidParamsError, ModelLoadError, UnknownModelError
from conveyor.diffusion.registry import ModelRegistry
from conveyor.diffusion.request import GenerationParams
from conveyor.diffusion.tasks import Generate

__all__ = ["FieldError", "generation_task"]

Loc = tuple[str | int, ...]

_PARAM_FIELDS = (
    "prompt",
    "model",
    "num_inference_steps",
    "guidance_scale",
    "seed",
    "width",
    "height",
    "num_images",
)


class FieldError(InvalidParamsError):
    """A request field a generation job cannot honour; ``loc`` names it."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _blame(exc: InvalidParamsError, default: Loc) -> FieldError:
    """The field a model-layer message is about (they start with the field's name)."""
    message = str(exc)
    first = message.split(" ", 1)[0]
    return FieldError((first,) if first in _PARAM_FIELDS else default, message)


def generation_task(
    registry: ModelRegistry,
    *,
    prompt: str | None,
    prompts: list[str] | None = None,
    model: str = "digits",
    num_inference_steps: int = 20,
    guidance_scale: float | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    num_images: int | None = None,
    preview_every: int | None = None,
) -> Generate:
    """The root task of a valid request, or FieldError naming what is wrong.

    Give ``prompt`` for ``num_images`` images of one prompt, or ``prompts`` for one image per
    prompt (``num_images``, if given, must then match). Never loads a model.
    """
    if prompts is not None:
        if prompt is not None:
            raise FieldError(("prompt",), "give either prompt or prompts, not both")
        if not prompts:
            raise FieldError(("prompts",), "prompts must hold at least one prompt")
        if num_images is not None and num_images != len(prompts):
            raise FieldError(
                ("num_images",),
                f"num_images is {num_images} but prompts holds {len(prompts)} prompts",
            )
        num_images = len(prompts)
    elif prompt is None:
        raise FieldError(("prompt",), "prompt is required (or prompts, one per image)")
    if preview_every is not None and preview_every < 1:
        raise FieldError(("preview_every",), "preview_every must be at least 1")
    try:
        params = GenerationParams(
            prompt=prompt if prompt is not None else (prompts or [""])[0],
            model=model,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            seed=seed,
            width=width,
            height=height,
            num_images=num_images or 1,
        )
    except InvalidParamsError as exc:
        error = _blame(exc, ("prompt",))
        if prompts and error.loc == ("prompt",):
            error.loc = ("prompts", 0)
        raise error from exc
    try:
        spec = registry.spec(model)
    except (UnknownModelError, ModelLoadError) as exc:
        raise FieldError(("model",), str(exc)) from exc
    for name, value in (("width", width), ("height", height)):
        if value is None:
            continue
        if not spec.min_size <= value <= spec.max_size or value % spec.size_multiple:
            raise FieldError(
                (name,),
                f"model {model!r} makes {name}s from {spec.min_size} to {spec.max_size} px"
                + (f" in multiples of {spec.size_multiple}" if spec.size_multiple > 1 else "")
                + f", got {value}",
            )
    for i, text in enumerate(prompts or ()):
        try:
            spec.resolve(replace(params, prompt=text))
        except InvalidParamsError as exc:
            raise FieldError(("prompts", i), str(exc)) from exc
    try:
        resolved = spec.resolve(params)
    except InvalidParamsError as exc:
        raise _blame(exc, ("prompt",)) from exc
    return Generate(resolved.with_seed(), list(prompts) if prompts else None, preview_every)
