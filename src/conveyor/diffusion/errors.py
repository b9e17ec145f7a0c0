"""Errors of the diffusion model layer.

They derive from both :class:`~conveyor.exceptions.ConveyorError` (so the engine can treat them
like its own errors) and a builtin type (so plain callers can catch ``ValueError``) — an
unknown model or a bad prompt is the caller's mistake and must never be retried.
"""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["InvalidParamsError", "ModelLoadError", "UnknownModelError"]


class InvalidParamsError(ConveyorError, ValueError):
    """Generation parameters a model cannot honour (bad prompt, size, step count...)."""


class UnknownModelError(ConveyorError, ValueError):
    """The model name is neither bundled nor configured; nothing is ever fetched from a hub."""


class ModelLoadError(ConveyorError, RuntimeError):
    """A configured model folder exists in the settings but cannot be loaded from disk."""
