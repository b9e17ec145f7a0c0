"""The ``Task`` base class users subclass.

A task is a dataclass: its typed class attributes are its input, stored as JSON
when the task is submitted and rebuilt on whichever runner executes it. Making
every subclass a dataclass automatically keeps the seed examples
(``DownloadImage(url, image_name)``) working without a decorator.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict

if TYPE_CHECKING:
    from conveyor.workflows.context import ExecutionContext

__all__ = ["Task", "task_identifier"]

DEFAULT_VERSION = "v0"


class Task:
    """Base class of all tasks: subclass it, declare typed fields, implement ``execute``.

    Override ``identifier`` (a static or class method returning ``(name, version)``)
    to give the task a stable name that survives renaming the class; by default the
    name is the class name and the version ``"v0"``.
    """

    # bytes travel as base64 inside the JSON input (see workflows/_serde.py).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        ser_json_bytes="base64", val_json_bytes="base64"
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(cls)

    @classmethod
    def identifier(cls) -> tuple[str, str]:
        """Return ``(name, version)``: what runners match submitted tasks against."""
        return cls.__name__, DEFAULT_VERSION

    def execute(self, context: ExecutionContext) -> None:
        """Do the work. Raise to fail this attempt (it is retried up to ``max_retries``)."""
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")


def task_identifier(task_cls: type[Task]) -> tuple[str, str]:
    """Return a validated ``(name, version)`` for a task class."""
    ident = task_cls.identifier()
    if (
        not isinstance(ident, tuple)
        or len(ident) != 2
        or not all(isinstance(part, str) and part for part in ident)
    ):
        raise TypeError(
            f"{task_cls.__qualname__}.identifier() must return a (name, version) tuple of "
            f"non-empty strings, got {ident!r}"
        )
    return ident
