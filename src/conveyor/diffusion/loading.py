"""How weights come off disk: offline only, with the keywords the installed diffusers wants,
and made cheap to run (:func:`pin_dtype`).

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

__all__ = ["force_offline", "load_kwargs", "pin_dtype"]


def force_offline() -> None:
    """Make huggingface_hub and transformers refuse network access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def load_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    """The keywords every ``from_pretrained`` call here takes besides ``local_files_only``.

    The dtype goes in as ``dtype`` for diffusers that renamed ``torch_dtype`` (newer ones warn
    on the old name; older ones, >= 0.30 is supported, ignore the new one). And
    ``low_cpu_mem_usage`` is only asked for where ``accelerate`` is installed: diffusers
    defaults it to on and, without accelerate, logs a multi-line warning on every model load
    (a worker's log, ``conveyor demo``'s screen) before falling back to off anyway.
    """
    from diffusers.utils import deprecation_utils, is_accelerate_available

    renamed = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    return {
        "dtype" if renamed else "torch_dtype": dtype,
        "low_cpu_mem_usage": is_accelerate_available(),
    }


_PINNED: dict[type, type] = {}


def pin_dtype(module: torch.nn.Module) -> torch.nn.Module:
    """Make a loaded diffusers model answer ``.dtype`` from a stored value; returns it.

    diffusers' ``ModelMixin.dtype`` walks every submodule looking for casting hooks on each
    read, and UNets read it in every ``forward`` (to cast the timestep embedding). On the
    bundled digits UNet that walk was ~12 % of a batch's time on CPU, more than the queue's
    whole overhead. Models loaded here get no such hooks, so the value is read once, and again
    after anything that can change it (``.to()``, ``.half()``, ... all go through ``_apply``).
    Only the instance changes: its class becomes a subclass of its own, so ``isinstance``
    holds and other instances are untouched.
    """
    cls = type(module)
    if cls in _PINNED.values():
        return module
    pinned = _PINNED.get(cls)
    if pinned is None:
        read = cls.dtype.fget  # type: ignore[attr-defined]

        def _apply(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = cls._apply(self, *args, **kwargs)  # type: ignore[attr-defined]
            self._conveyor_dtype = read(self)
            return out

        pinned = _PINNED[cls] = type(
            cls.__name__,
            (cls,),
            {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "dtype": property(lambda self: self._conveyor_dtype),
                "_apply": _apply,
            },
        )
    module._conveyor_dtype = cls.dtype.fget(module)  # type: ignore[attr-defined]
    module.__class__ = pinned
    return module
