"""A local diffusers folder (a tiny random Stable Diffusion) through the registry, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import ImageChops

from conveyor.diffusion import (
    GenerationParams,
    ImageModel,
    InvalidParamsError,
    ModelRegistry,
    encode_png,
)


class Cancelled(Exception):
    pass


@pytest.fixture(scope="module")
def sd_registry(tiny_sd_path: Path) -> ModelRegistry:
    return ModelRegistry({"sd-tiny": tiny_sd_path}, device="cpu")


@pytest.fixture(scope="module")
def sd_model(sd_registry: ModelRegistry) -> ImageModel:
    return sd_registry.get("sd-tiny")


def test_folder_layout(tiny_sd_path: Path) -> None:
    index = json.loads((tiny_sd_path / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert (tiny_sd_path / "tokenizer" / "tokenizer_config.json").is_file()
    assert (tiny_sd_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def test_spec_from_configs(sd_registry: ModelRegistry) -> None:
    spec = sd_registry.spec("sd-tiny")
    assert (spec.kind, spec.default_width, spec.size_multiple) == ("diffusers", 64, 8)
    resolved = sd_registry.resolve(GenerationParams("a cat", model="sd-tiny"))
    assert (resolved.width, resolved.height, resolved.guidance_scale) == (64, 64, 7.5)
    with pytest.raises(InvalidParamsError, match="multiples of 8"):
        sd_registry.resolve(GenerationParams("a cat", model="sd-tiny", width=30))


def test_loaded_once(sd_registry: ModelRegistry, sd_model: ImageModel) -> None:
    assert sd_registry.get("sd-tiny") is sd_model
    assert type(sd_model.pipeline).__name__ == "StableDiffusionPipeline"  # type: ignore[attr-defined]


def test_generates_requested_size_with_steps(sd_model: ImageModel) -> None:
    steps: list[tuple[int, int]] = []
    params = GenerationParams(
        "a red cat", model="sd-tiny", num_inference_steps=3, seed=1, width=48, height=32
    )
    images = sd_model.generate(params.items(), on_step=lambda s, t: steps.append((s, t)))
    assert [(img.size, img.mode) for img in images] == [((48, 32), "RGB")]
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_batch_matches_alone(sd_model: ImageModel) -> None:
    """Per-item seeds: a batch repeats byte for byte, and matches items run alone up to
    rounding (shape-dependent kernels may move a pixel by a step or two)."""
    requests = [
        GenerationParams("a cat", model="sd-tiny", num_inference_steps=2, seed=3, num_images=2),
        GenerationParams("the blue dog", model="sd-tiny", num_inference_steps=2, seed=8),
    ]
    items = [item for params in requests for item in params.items()]
    together = sd_model.generate(items)
    assert [encode_png(i) for i in together] == [encode_png(i) for i in sd_model.generate(items)]
    assert len({encode_png(i) for i in together}) == 3
    for item, batched in zip(items, together, strict=True):
        (alone,) = sd_model.generate([item])
        diff = ImageChops.difference(alone, batched)
        assert max(high for _, high in diff.getextrema()) <= 2


def test_raising_on_step_stops_pipeline(sd_model: ImageModel, count_calls) -> None:
    def on_step(done: int, total: int) -> None:
        if done == 2:
            raise Cancelled

    params = GenerationParams("a dog", model="sd-tiny", num_inference_steps=10, seed=0)
    with count_calls(sd_model.pipeline.unet) as calls, pytest.raises(Cancelled):  # type: ignore[attr-defined]
        sd_model.generate(params.items(), on_step=on_step)
    assert len(calls) == 2


def test_previews(sd_model: ImageModel) -> None:
    previews: list[tuple[int, list]] = []
    params = GenerationParams("a cat", model="sd-tiny", num_inference_steps=4, seed=0)
    sd_model.generate(
        params.items(), preview_every=2, on_preview=lambda s, imgs: previews.append((s, imgs))
    )
    assert [(s, len(imgs), imgs[0].size) for s, imgs in previews] == [(2, 1, (64, 64))]
