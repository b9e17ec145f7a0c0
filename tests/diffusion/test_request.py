from __future__ import annotations

import dataclasses

import pytest

from conveyor.diffusion import BatchKey, GenerationItem, GenerationParams, InvalidParamsError


def test_defaults_and_batch_key() -> None:
    params = GenerationParams("a seven")
    assert params.model == "digits"
    assert params.num_inference_steps == 20
    assert params.batch_key() == BatchKey("digits", None, None, 20, None)
    other = GenerationParams("a three", seed=5, num_images=3)
    assert other.batch_key() == params.batch_key()  # prompt and seed do not split batches
    assert GenerationParams("7", width=32).batch_key() != params.batch_key()


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        GenerationParams("7").prompt = "8"  # type: ignore[misc]


def test_items_have_consecutive_seeds() -> None:
    items = GenerationParams("7", seed=10, num_images=3).items()
    assert [item.index for item in items] == [0, 1, 2]
    assert [item.seed for item in items] == [10, 11, 12]
    assert GenerationItem(GenerationParams("7")).seed is None


def test_with_seed() -> None:
    seeded = GenerationParams("7").with_seed()
    assert seeded.seed is not None
    assert seeded.with_seed() is seeded
    assert GenerationParams("7").with_seed(3).seed == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt": " "},
        {"num_inference_steps": 0},
        {"num_inference_steps": 10_000},
        {"num_images": 0},
        {"seed": -1},
        {"seed": 2**63},
        {"width": 0},
        {"guidance_scale": -1.0},
        {"num_images": True},
    ],
)
def test_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(InvalidParamsError):
        GenerationParams(**{"prompt": "7", **kwargs})


def test_item_index_checked() -> None:
    with pytest.raises(InvalidParamsError):
        GenerationItem(GenerationParams("7", num_images=2), 2)
