"""Model names → specs and loaded models, with one load per model per process.

``digits`` ships inside the package; every other name must be configured to a local
diffusers folder (e.g. ``CONVEYOR_MODELS='{"sd-tiny": "/models/sd-tiny"}'``). An unknown name
is an :class:`UnknownModelError`, never a download. Describing a model (:meth:`spec`,
:meth:`resolve`) is torch-free so the API can validate requests; :meth:`get` loads weights.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from conveyor.diffusion.base import ImageModel
from conveyor.diffusion.errors import ModelLoadError, UnknownModelError
from conveyor.diffusion.request import GenerationParams
from conveyor.diffusion.spec import ModelSpec, digits_spec, folder_spec

__all__ = ["MODELS_ENV_VAR", "ModelRegistry", "default_registry", "parse_models_setting"]

MODELS_ENV_VAR = "CONVEYOR_MODELS"
BUNDLED = ("digits",)


def parse_models_setting(text: str | None) -> dict[str, str]:
    """Parse the ``CONVEYOR_MODELS`` JSON object (name → local folder); empty means none."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{MODELS_ENV_VAR} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in data.items()
    ):
        raise ValueError(
            f"{MODELS_ENV_VAR} must be a JSON object of name → folder path, e.g. "
            '{"sd-tiny": "/models/sd-tiny"}'
        )
    return data


class ModelRegistry:
    """Knows which models exist and hands out loaded, shared instances.

    ``paths`` maps extra model names to local diffusers pipeline folders (a name may also
    override a bundled one). ``device`` overrides automatic placement (see
    :func:`conveyor.diffusion.device.select_placement`). Thread-safe: concurrent :meth:`get`
    calls for one name load it once; different names load in parallel; a failed load is not
    cached, so the next call tries again.
    """

    def __init__(
        self,
        paths: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        device: str | None = None,
    ) -> None:
        self._paths = {name: Path(path) for name, path in (paths or {}).items()}
        self._device = device
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._models: dict[str, ImageModel] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelRegistry:
        """A registry configured from ``$CONVEYOR_MODELS`` (and ``$CONVEYOR_DEVICE``)."""
        env = os.environ if environ is None else environ
        return cls(
            parse_models_setting(env.get(MODELS_ENV_VAR)),
            device=env.get("CONVEYOR_DEVICE") or None,
        )

    def names(self) -> list[str]:
        """Every model name this registry can serve, sorted."""
        return sorted({*BUNDLED, *self._paths})

    def __contains__(self, name: object) -> bool:
        return name in BUNDLED or name in self._paths

    def spec(self, name: str) -> ModelSpec:
        """Static description of ``name`` (reads JSON configs only; torch-free)."""
        with self._lock:
            cached = self._specs.get(name)
        if cached is not None:
            return cached
        if name in self._paths:
            path = self._paths[name].expanduser()
            # A folder written by scripts/train_digits.py is a digits model, not a pipeline.
            if (path / "conveyor.json").is_file():
                spec = digits_spec(name, path)
            else:
                spec = folder_spec(name, path)
        elif name == "digits":
            spec = digits_spec()
        else:
            known = ", ".join(self.names())
            raise UnknownModelError(
                f"unknown model {name!r}; available models: {known}. Other models must be "
                f"configured to a local folder via {MODELS_ENV_VAR} (nothing is downloaded)"
            )
        with self._lock:
            return self._specs.setdefault(name, spec)

    def resolve(self, params: GenerationParams) -> GenerationParams:
        """``params`` with the model's defaults filled in, validated (torch-free)."""
        return self.spec(params.model).resolve(params)

    def get(self, name: str) -> ImageModel:
        """The loaded model ``name``, loading it on first use."""
        spec = self.spec(name)
        with self._lock:
            model = self._models.get(name)
            if model is not None:
                return model
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:
            with self._lock:
                model = self._models.get(name)
            if model is None:
                model = self._load(spec)
                with self._lock:
                    self._models[name] = model
        return model

    def loaded(self) -> list[str]:
        """Names of the models already loaded in this process."""
        with self._lock:
            return sorted(self._models)

    def _load(self, spec: ModelSpec) -> ImageModel:
        from conveyor.diffusion.device import select_placement

        placement = select_placement(self._device)
        if spec.kind == "digits":
            from conveyor.diffusion.digits import DigitsModel

            return DigitsModel.load(spec, placement.device)
        if spec.kind == "diffusers":
            from conveyor.diffusion.pipeline import PipelineModel

            return PipelineModel.load(spec, placement.device, placement.dtype)
        raise ModelLoadError(f"model {spec.name!r} has unsupported kind {spec.kind!r}")


_default: ModelRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ModelRegistry:
    """The process-wide registry built from the environment on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ModelRegistry.from_env()
        return _default
