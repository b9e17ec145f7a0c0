"""What a model accepts, known without loading it.

The API process must reject a bad request (unknown model, unsupported size) at submit time,
long before a GPU worker picks it up, and it must do so without torch. A :class:`ModelSpec` is
read from the bundled constants or from a diffusers folder's JSON configs only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from conveyor.diffusion.errors import InvalidParamsError, ModelLoadError
from conveyor.diffusion.prompts import parse_digit
from conveyor.diffusion.request import GenerationParams

__all__ = ["BUNDLED_MODELS_DIR", "ModelKind", "ModelSpec", "digits_spec", "folder_spec"]

ModelKind = Literal["digits", "diffusers"]

BUNDLED_MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Static facts about one model: where it lives and which parameters it supports."""

    name: str
    kind: ModelKind
    path: Path
    default_width: int
    default_height: int
    min_size: int
    max_size: int
    size_multiple: int
    default_guidance_scale: float
    max_batch_size: int

    def resolve(self, params: GenerationParams) -> GenerationParams:
        """Fill ``params``' defaults from this model and check it can honour them.

        Idempotent, torch-free and cheap: call it in the API before storing a request and
        again in the worker. Raises :class:`InvalidParamsError` (a ``ValueError``).
        """
        if params.model != self.name:
            raise InvalidParamsError(f"params are for model {params.model!r}, not {self.name!r}")
        width = params.width if params.width is not None else self.default_width
        height = params.height if params.height is not None else self.default_height
        for label, value in (("width", width), ("height", height)):
            if not self.min_size <= value <= self.max_size or value % self.size_multiple:
                raise InvalidParamsError(
                    f"model {self.name!r} supports {label} from {self.min_size} to "
                    f"{self.max_size} px in multiples of {self.size_multiple}, got {value}"
                )
        if self.kind == "digits":
            parse_digit(params.prompt)  # raises with a helpful message
            guidance = 0.0  # class-conditional model without guidance: normalised for batching
        else:
            guidance = (
                params.guidance_scale
                if params.guidance_scale is not None
                else self.default_guidance_scale
            )
        return replace(params, width=width, height=height, guidance_scale=guidance)


def digits_spec(name: str = "digits", path: Path | None = None) -> ModelSpec:
    """The bundled class-conditional digits model (16x16 native, upscaled on output)."""
    return ModelSpec(
        name=name,
        kind="digits",
        path=path or BUNDLED_MODELS_DIR / "digits",
        default_width=64,
        default_height=64,
        min_size=8,
        max_size=512,
        size_multiple=1,
        default_guidance_scale=0.0,
        max_batch_size=256,
    )


def folder_spec(name: str, path: str | Path) -> ModelSpec:
    """Describe a local diffusers pipeline folder from its JSON configs.

    Sizes must be multiples of 8 (what diffusers' pipelines check) and of the VAE's downscale
    factor, so latents have whole pixels; the UNet copes with latents its levels do not divide.
    The default size is the one the UNet was trained at.
    """
    folder = Path(path).expanduser()
    if not (folder / "model_index.json").is_file():
        raise ModelLoadError(
            f"model {name!r} is configured at {str(folder)!r}, which is not a diffusers "
            "pipeline folder (no model_index.json); nothing is downloaded, give a local path"
        )
    vae = _read_json(folder / "vae" / "config.json")
    unet = _read_json(folder / "unet" / "config.json")
    vae_scale = 2 ** (len(vae.get("block_out_channels", [0, 0, 0, 0])) - 1)
    multiple = math.lcm(8, vae_scale)
    sample = unet.get("sample_size", 64)
    if isinstance(sample, list | tuple):
        sample_h, sample_w = sample
    else:
        sample_h = sample_w = sample
    return ModelSpec(
        name=name,
        kind="diffusers",
        path=folder,
        default_width=int(sample_w) * vae_scale,
        default_height=int(sample_h) * vae_scale,
        min_size=multiple,
        max_size=max(2048, multiple),
        size_multiple=multiple,
        default_guidance_scale=7.5,
        max_batch_size=8,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {str(path)!r}: {exc}") from exc
    return data if isinstance(data, dict) else {}
