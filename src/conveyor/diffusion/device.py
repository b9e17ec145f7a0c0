"""Where models run: the one place that decides device and precision.

CUDA with fp16 when a GPU is visible (half the memory, tensor cores), CPU with fp32
otherwise (fp16 on CPU is slow and poorly supported). ``CONVEYOR_DEVICE`` or an explicit
argument overrides the device, e.g. to pin a worker to ``cuda:1`` or force ``cpu``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_ENV_VAR", "Placement", "select_placement"]

DEVICE_ENV_VAR = "CONVEYOR_DEVICE"


class Placement(NamedTuple):
    """A torch device and the floating-point dtype models should use on it."""

    device: torch.device
    dtype: torch.dtype


def select_placement(device: str | None = None) -> Placement:
    """Pick the device (argument, then ``$CONVEYOR_DEVICE``, then auto) and its dtype."""
    import torch

    name = (
        device or os.environ.get(DEVICE_ENV_VAR) or ("cuda" if torch.cuda.is_available() else "cpu")
    )
    dev = torch.device(name)
    return Placement(dev, torch.float16 if dev.type == "cuda" else torch.float32)
