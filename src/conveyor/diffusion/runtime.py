"""What generation tasks use inside a worker process: the model registry and the batch size.

Tasks are rebuilt from JSON on whichever worker claims them, so they cannot carry a loaded
model; they look it up here. The process-wide registry loads each model once and keeps it
warm for every later task. Tests and benchmarks swap in their own registry with
:func:`use_registry` so one loaded model serves both the queue and a direct baseline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from conveyor.diffusion.registry import ModelRegistry, default_registry

__all__ = [
    "BATCH_SIZE_ENV_VAR",
    "BATCH_WAIT_ENV_VAR",
    "DEFAULT_BATCH_SIZE",
    "batch_size_setting",
    "batch_wait_setting",
    "current_registry",
    "use_registry",
]

BATCH_SIZE_ENV_VAR = "CONVEYOR_MAX_BATCH_SIZE"
#: Images a worker denoises together by default: 8 keeps a CPU busy and fits any GPU.
DEFAULT_BATCH_SIZE = 8
_MAX_BATCH_SIZE = 256
BATCH_WAIT_ENV_VAR = "CONVEYOR_BATCH_WAIT_SECONDS"
_MAX_BATCH_WAIT = 10.0

_override: ModelRegistry | None = None
_lock = threading.Lock()


def batch_size_setting(environ: Mapping[str, str] | None = None) -> int:
    """``$CONVEYOR_MAX_BATCH_SIZE`` (default 8): how many image tasks a worker claims at once."""
    env = os.environ if environ is None else environ
    text = (env.get(BATCH_SIZE_ENV_VAR) or "").strip()
    if not text:
        return DEFAULT_BATCH_SIZE
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{BATCH_SIZE_ENV_VAR} must be an integer, got {text!r}") from None
    if not 1 <= value <= _MAX_BATCH_SIZE:
        raise ValueError(f"{BATCH_SIZE_ENV_VAR} must be between 1 and {_MAX_BATCH_SIZE}")
    return value


def batch_wait_setting(environ: Mapping[str, str] | None = None) -> float:
    """``$CONVEYOR_BATCH_WAIT_SECONDS`` (default 0): how long a worker whose batch is not full
    waits for more image tasks to be queued before it starts denoising."""
    env = os.environ if environ is None else environ
    text = (env.get(BATCH_WAIT_ENV_VAR) or "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{BATCH_WAIT_ENV_VAR} must be a number, got {text!r}") from None
    if not 0 <= value <= _MAX_BATCH_WAIT:  # also refuses nan
        raise ValueError(f"{BATCH_WAIT_ENV_VAR} must be between 0 and {_MAX_BATCH_WAIT:g} seconds")
    return value


def current_registry() -> ModelRegistry:
    """The registry generation tasks load models from (``CONVEYOR_MODELS`` by default)."""
    with _lock:
        override = _override
    return override if override is not None else default_registry()


@contextmanager
def use_registry(registry: ModelRegistry) -> Iterator[ModelRegistry]:
    """Make tasks executed in this process use ``registry`` for the ``with`` block."""
    global _override
    with _lock:
        previous, _override = _override, registry
    try:
        yield registry
    finally:
        with _lock:
            _override = previous
