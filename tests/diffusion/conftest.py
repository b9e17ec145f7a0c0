"""Shared fixtures: models are loaded once per session because loading dominates test time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from conveyor.diffusion import ImageModel, ModelRegistry


@pytest.fixture(scope="session")
def registry() -> ModelRegistry:
    return ModelRegistry(device="cpu")


@pytest.fixture(scope="session")
def digits_model(registry: ModelRegistry) -> ImageModel:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    return registry.get("digits")


@pytest.fixture(scope="session")
def tiny_sd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from conveyor.diffusion.testing import build_tiny_sd_pipeline

    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "sd-tiny")


@contextmanager
def _count_calls(module: Any) -> Iterator[list[int]]:
    calls: list[int] = []
    handle = module.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture
def count_calls() -> Callable[[Any], AbstractContextManager[list[int]]]:
    """``with count_calls(unet) as calls:`` counts forward calls of a torch module."""
    return _count_calls
