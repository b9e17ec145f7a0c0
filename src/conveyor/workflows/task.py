"""The ``Task`` base class users subclass.

A task is a dataclass: its typed class attributes are its input, stored as JSON
when the task is submitted and rebuilt on whichever runner executes it. Making
every subclass a dataclass automatically keeps the seed examples
(``DownloadImage(url, image_name)``) working without a decorator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, dataclass_transform

from pydantic import ConfigDict

if TYPE_CHECKING:
    from conveyor.workflows.context import ExecutionContext

__all__ = ["Task", "task_identifier"]

DEFAULT_VERSION = "v0"


@dataclass_transform()
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

    def batch_key(self) -> str | None:
        """Tasks of one class with equal non-None keys may be executed together.

        A runner that claims such a task also claims up to ``max_batch_size - 1`` queued
        tasks with the same key and calls ``execute_batch`` once for all of them (a GPU
        denoising several images in one forward pass). The default, None, never batches.
        """
        return None

    #: How many tasks a runner may hand to one ``execute_batch`` call.
    max_batch_size: ClassVar[int] = 1
    #: Seconds a runner may wait for more compatible tasks to be queued while a batch is not
    #: full: a burst of jobs whose roots commit one after another then fills batches instead
    #: of starting a small one per worker. 0 (the default) runs what is queued at once.
    batch_wait: ClassVar[float] = 0.0

    @classmethod
    def execute_batch(
        cls, tasks: Sequence[Task], contexts: Sequence[ExecutionContext]
    ) -> Sequence[BaseException | None]:
        """Execute several compatible tasks at once; return one outcome per task.

        Each task keeps its own context (progress, subtasks, results, cache), and each
        outcome is None for success or the exception that failed that task. The default
        runs them one by one.
        """
        outcomes: list[BaseException | None] = []
        for task, context in zip(tasks, contexts, strict=True):
            try:
                task.execute(context)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


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
