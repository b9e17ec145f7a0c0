from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from conveyor.diffusion import (
    GenerationParams,
    InvalidParamsError,
    ModelLoadError,
    ModelRegistry,
    UnknownModelError,
    parse_models_setting,
)
from conveyor.diffusion.spec import BUNDLED_MODELS_DIR


def test_bundled_model_files_are_shipped() -> None:
    folder = BUNDLED_MODELS_DIR / "digits"
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.is_file()
    assert weights.stat().st_size < 5_000_000
    for name in ("unet/config.json", "scheduler/scheduler_config.json", "conveyor.json"):
        assert (folder / name).is_file(), name


def test_unknown_model() -> None:
    registry = ModelRegistry({"sd-tiny": "/nowhere"})
    assert registry.names() == ["digits", "sd-tiny"]
    assert "digits" in registry and "nope" not in registry
    with pytest.raises(UnknownModelError, match=r"unknown model 'runwayml/sd'.*digits, sd-tiny"):
        registry.get("runwayml/sd")
    with pytest.raises(ValueError):
        registry.resolve(GenerationParams("7", model="nope"))


def test_configured_folder_must_be_local_pipeline(tmp_path: Path) -> None:
    registry = ModelRegistry({"broken": tmp_path})
    with pytest.raises(ModelLoadError, match=r"model_index\.json"):
        registry.spec("broken")


def test_parse_models_setting() -> None:
    assert parse_models_setting(None) == {}
    assert parse_models_setting(" ") == {}
    assert parse_models_setting('{"a": "/x"}') == {"a": "/x"}
    for bad in ("[1]", "{", '{"a": 3}', '{"": "/x"}'):
        with pytest.raises(ValueError):
            parse_models_setting(bad)
    registry = ModelRegistry.from_env({"CONVEYOR_MODELS": json.dumps({"m": "/p"})})
    assert registry.names() == ["digits", "m"]


def test_resolve_digits_defaults_and_sizes() -> None:
    registry = ModelRegistry()
    resolved = registry.resolve(GenerationParams("a seven", guidance_scale=7.5))
    assert (resolved.width, resolved.height, resolved.guidance_scale) == (64, 64, 0.0)
    assert registry.resolve(resolved) == resolved
    with pytest.raises(InvalidParamsError, match="width"):
        registry.resolve(GenerationParams("7", width=4))
    with pytest.raises(InvalidParamsError, match="height"):
        registry.resolve(GenerationParams("7", height=1024))
    with pytest.raises(InvalidParamsError, match="names no digit"):
        registry.resolve(GenerationParams("a cat"))


def test_get_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry()
    loads: list[str] = []
    barrier = threading.Barrier(8)

    def fake_load(spec):  # stands in for the real loader: slow and counted
        loads.append(spec.name)
        return object()

    monkeypatch.setattr(registry, "_load", fake_load)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(registry.get("digits"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["digits"]
    assert len({id(r) for r in results}) == 1
    assert registry.loaded() == ["digits"]


def test_failed_load_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry()
    attempts: list[int] = []

    def flaky_load(spec):
        attempts.append(1)
        if len(attempts) == 1:
            raise ModelLoadError("disk hiccup")
        return "model"

    monkeypatch.setattr(registry, "_load", flaky_load)
    with pytest.raises(ModelLoadError):
        registry.get("digits")
    assert registry.get("digits") == "model"


def test_a_device_this_machine_lacks_is_a_clear_load_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    with pytest.raises(ModelLoadError, match=r"'quantum' \(CONVEYOR_DEVICE\) is not a torch"):
        ModelRegistry(device="quantum").get("digits")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = "cuda" if count == 0 else f"cuda:{count}"
    with pytest.raises(ModelLoadError, match=r"asked for, but torch .*sees"):
        ModelRegistry(device=missing).get("digits")
    monkeypatch.setenv("CONVEYOR_DEVICE", "quantum")
    with pytest.raises(ModelLoadError, match="quantum"):
        ModelRegistry().get("digits")
    assert ModelRegistry(device="cpu").get("digits").device.type == "cpu"
