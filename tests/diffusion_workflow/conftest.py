"""Fixtures of the generation workflow tests: one model registry shared by the in-process
runners, and a tiny random Stable Diffusion folder (helpers live in ``support.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.diffusion import ModelRegistry
from conveyor.diffusion.runtime import use_registry

pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture(scope="session")
def registry() -> ModelRegistry:
    """Loads each model once for every in-process test (loading dominates their time)."""
    return ModelRegistry(device="cpu")


@pytest.fixture(autouse=True)
def _tasks_use_registry(registry: ModelRegistry) -> Iterator[None]:
    with use_registry(registry):
        yield


@pytest.fixture(scope="session")
def tiny_sd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from conveyor.diffusion.testing import build_tiny_sd_pipeline

    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "sd-tiny")
