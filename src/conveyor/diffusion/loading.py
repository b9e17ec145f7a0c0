"""How weights come off disk: offline only, with the dtype keyword the installed diffusers wants.

Conveyor never downloads weights at run time. huggingface_hub reads its offline variables once,
when first imported, so :func:`force_offline` must run before any diffusers/transformers
import; every loader in this package calls it first and also passes ``local_files_only=True``
in case another part of the process imported the hub libraries earlier.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["dtype_kwargs", "force_offline"]


def force_offline() -> None:
    """Make huggingface_hub and transformers refuse network access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    """``{"dtype": ...}`` for diffusers that renamed ``torch_dtype``, else ``{"torch_dtype": ...}``.

    Newer diffusers warn on ``torch_dtype``; older ones (>= 0.30 is supported) ignore ``dtype``.
    """
    from diffusers.utils import deprecation_utils

    renamed = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    return {"dtype": dtype} if renamed else {"torch_dtype": dtype}
