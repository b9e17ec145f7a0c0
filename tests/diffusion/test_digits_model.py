"""Behaviour workers rely on: determinism, batching, progress, cancellation, previews."""

from __future__ import annotations

import pytest

from conveyor.diffusion import GenerationParams, ImageModel, InvalidParamsError, encode_png


class Cancelled(Exception):
    pass


def _pngs(images) -> list[bytes]:
    return [encode_png(image) for image in images]


def test_images_have_requested_size(digits_model: ImageModel) -> None:
    params = GenerationParams("a four", seed=1, num_inference_steps=5, width=40, height=24)
    (image,) = digits_model.generate(params.items())
    assert (image.size, image.mode) == ((40, 24), "L")
    (default,) = digits_model.generate(GenerationParams("4", num_inference_steps=2).items())
    assert default.size == (64, 64)


def test_same_seed_same_bytes(digits_model: ImageModel) -> None:
    params = GenerationParams("a seven", seed=42, num_inference_steps=10)
    first = _pngs(digits_model.generate(params.items()))
    again = _pngs(digits_model.generate(params.items()))
    other = _pngs(digits_model.generate(GenerationParams("a seven", seed=43).items()))
    assert first == again
    assert first != other


def test_batch_gives_same_bytes_as_alone(digits_model: ImageModel) -> None:
    requests = [
        GenerationParams("a seven", seed=7, num_inference_steps=10),
        GenerationParams("digit 2", seed=100, num_inference_steps=10, num_images=2),
        GenerationParams("0", seed=9, num_inference_steps=10),
    ]
    items = [item for params in requests for item in params.items()]
    assert len(items) == 4
    together = _pngs(digits_model.generate(items))
    alone = [_pngs(digits_model.generate([item]))[0] for item in items]
    assert together == alone
    assert len(set(together)) == 4


def test_bytes_independent_of_batch_composition(digits_model: ImageModel) -> None:
    """Items land at different positions and micro-batches; bytes must not care."""
    items = [
        item
        for d in range(10)
        for item in GenerationParams(
            str(d), seed=31 * d, num_inference_steps=8, num_images=2
        ).items()
    ]
    reference = _pngs(digits_model.generate(items))
    shuffled = items[7:] + items[:7]
    assert _pngs(digits_model.generate(shuffled)) == reference[7:] + reference[:7]
    in_threes = [
        png for k in range(0, 20, 3) for png in _pngs(digits_model.generate(items[k : k + 3]))
    ]
    assert in_threes == reference


def test_on_step_called_once_per_step_per_batch(digits_model: ImageModel) -> None:
    calls: list[tuple[int, int]] = []
    params = GenerationParams("3", seed=0, num_inference_steps=6, num_images=3)
    for _ in range(2):  # two batches
        digits_model.generate(params.items(), on_step=lambda s, t: calls.append((s, t)))
    assert len(calls) == 6 * 2
    assert calls[:6] == [(s, 6) for s in range(1, 7)]


def test_raising_on_step_stops_within_that_step(digits_model: ImageModel, count_calls) -> None:
    def on_step(done: int, total: int) -> None:
        if done == 3:
            raise Cancelled

    params = GenerationParams("5", seed=0, num_inference_steps=20, num_images=2)
    with count_calls(digits_model.unet) as calls, pytest.raises(Cancelled):
        digits_model.generate(params.items(), on_step=on_step)
    assert len(calls) == 3
    # The model stays usable after an interrupted batch.
    assert len(digits_model.generate(params.items())) == 2


def test_previews(digits_model: ImageModel) -> None:
    previews: list[tuple[int, int]] = []
    params = GenerationParams("6", seed=0, num_inference_steps=10, num_images=2, width=32)
    final = digits_model.generate(
        params.items(),
        preview_every=3,
        on_preview=lambda step, images: previews.append((step, len(images))),
    )
    assert previews == [(3, 2), (6, 2), (9, 2)]
    assert [img.size for img in final] == [(32, 64), (32, 64)]


def test_mixed_batch_keys_rejected(digits_model: ImageModel) -> None:
    items = GenerationParams("1", seed=0).items() + GenerationParams("1", width=32).items()
    with pytest.raises(InvalidParamsError, match="batch key"):
        digits_model.generate(items)


def test_bad_prompt_rejected(digits_model: ImageModel) -> None:
    with pytest.raises(InvalidParamsError):
        digits_model.generate(GenerationParams("a cat").items())
