"""Where models run: the one place that decides device and precision.

CUDA with fp16 when a GPU is visible (half the memory, tensor cores), CPU with fp32
otherwise (fp16 on CPU is slow and poorly supported). ``CONVEYOR_DEVICE`` or an explicit
argument overrides the device, e.g. to pin a worker to ``cuda:1`` or force ``cpu``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from conveyor.diffusion.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_ENV_VAR", "Placement", "select_placement"]

DEVICE_ENV_VAR = "CONVEYOR_DEVICE"


class Placement(NamedTuple):
    """A torch device and the floating-point dtype models should use on it."""

    device: torch.device
    dtype: torch.dtype


def select_placement(device: str | None = None) -> Placement:
    """Pick the device (argument, then ``$CONVEYOR_DEVICE``, then auto) and its dtype.

    A device that does not exist here fails now, with a ModelLoadError naming it, rather
    than as a torch error deep inside the first model call.
    """
    import torch

    name = (
        device or os.environ.get(DEVICE_ENV_VAR) or ("cuda" if torch.cuda.is_available() else "cpu")
    )
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ModelLoadError(
            f"device {name!r} ({DEVICE_ENV_VAR}) is not a torch device; use cpu, cuda, cuda:1, ..."
        ) from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ModelLoadError(
                f"device {name!r} ({DEVICE_ENV_VAR}) asked for, but torch {torch.__version__} "
                "sees no CUDA device"
            )
        if dev.index is not None and dev.index >= count:
            raise ModelLoadError(
                f"device {name!r} ({DEVICE_ENV_VAR}) asked for, but torch sees {count} CUDA "
                f"device(s): cuda:0 .. cuda:{count - 1}"
            )
    return Placement(dev, torch.float16 if dev.type == "cuda" else torch.float32)
