"""Models as they come off disk: dtype pinned (cheap per forward), no accelerate warning."""

from __future__ import annotations

import logging

import pytest

from conveyor.diffusion import ImageModel

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from conveyor.diffusion.loading import load_kwargs, pin_dtype  # noqa: E402


def _tiny_unet():
    return diffusers.UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 8),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
    )


def test_loaded_unet_reads_dtype_without_walking_modules(
    digits_model: ImageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet = digits_model.unet  # type: ignore[attr-defined]
    assert isinstance(unet, diffusers.UNet2DModel)

    def walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("dtype walked the module tree")

    monkeypatch.setattr(torch.nn.Module, "named_modules", walk)
    assert unet.dtype == torch.float32


def test_pinned_dtype_follows_casts() -> None:
    unet = pin_dtype(_tiny_unet())
    assert unet.dtype == torch.float32
    assert pin_dtype(unet) is unet  # pinning twice changes nothing
    unet.to(torch.float64)
    assert unet.dtype == torch.float64
    unet.half()
    assert unet.dtype == torch.float16
    other = _tiny_unet()  # other instances keep the class they had
    assert type(other) is diffusers.UNet2DModel
    assert type(unet) is not diffusers.UNet2DModel and isinstance(unet, diffusers.UNet2DModel)


def test_pinned_unet_computes_what_the_original_does() -> None:
    torch.manual_seed(0)
    plain = _tiny_unet().eval()
    pinned = pin_dtype(_tiny_unet().eval())
    pinned.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(plain(x, 3).sample, pinned(x, 3).sample)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("fixed", [True, False])
def test_loading_logs_no_accelerate_warning(fixed: bool, tmp_path) -> None:
    """diffusers' loggers do not propagate to the root logger: listen on theirs."""
    from diffusers.utils import is_accelerate_available

    if not fixed and is_accelerate_available():
        pytest.skip("accelerate is installed: diffusers has nothing to warn about")
    _tiny_unet().save_pretrained(tmp_path)
    kwargs = load_kwargs(torch.float32) if fixed else {}
    records = _Records()
    logger = logging.getLogger("diffusers")
    logger.addHandler(records)
    try:
        diffusers.UNet2DModel.from_pretrained(str(tmp_path), local_files_only=True, **kwargs)
    finally:
        logger.removeHandler(records)
    warned = any("accelerate" in m for m in records.messages)
    assert warned is not fixed  # without load_kwargs the warning shows: the check can fail
