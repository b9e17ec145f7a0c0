"""What a running task sees: subtasks, progress indicators, the job cache, results.

Everything a task does through its context belongs to the current attempt and is
kept in memory until the attempt ends; the runner commits it all in one
transaction on success and drops it on failure. Progress is the exception: it is
also flushed live (coalesced, by the runner's background thread) so clients see
it while the task runs, and each flush is fenced by the attempt number.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from conveyor.blobs import check_key
from conveyor.store.records import NewTask, ProgressValue
from conveyor.workflows._serde import new_task
from conveyor.workflows.cache import JobCache, job_prefix

if TYPE_CHECKING:
    from conveyor.blobs import BlobStore
    from conveyor.store import Store
    from conveyor.workflows.task import Task

__all__ = ["ExecutionContext", "ProgressHandle", "TaskHandle"]

_RESERVED_EVENTS = frozenset({"state", "progress"})


@dataclass(frozen=True, slots=True)
class TaskHandle:
    """A subtask submitted in this attempt, to name in ``depends_on``."""

    id: UUID
    index: int
    _owner: int

    def __repr__(self) -> str:
        return f"TaskHandle(id={self.id}, index={self.index})"


class ProgressHandle:
    """One named done/total indicator of the current task. Cheap enough for hot loops."""

    __slots__ = ("_cell", "_ctx", "label")

    def __init__(self, ctx: ExecutionContext, label: str | None, cell: list[int]) -> None:
        self._ctx = ctx
        self._cell = cell
        self.label = label

    def add(self, n: int = 1) -> None:
        """Add ``n`` units of work to do (the indicator's total)."""
        if type(n) is not int or n < 0:
            raise ValueError(f"progress amounts are non-negative integers, got {n!r}")
        ctx = self._ctx
        if ctx._interrupt is not None:
            raise ctx._interrupt
        self._cell[0] += n
        if not ctx._dirty:
            ctx._mark_dirty()

    def done(self, n: int = 1) -> None:
        """Record ``n`` units of work as done."""
        if type(n) is not int or n < 0:
            raise ValueError(f"progress amounts are non-negative integers, got {n!r}")
        ctx = self._ctx
        if ctx._interrupt is not None:
            raise ctx._interrupt
        self._cell[1] += n
        if not ctx._dirty:
            ctx._mark_dirty()

    @property
    def total(self) -> int:
        return self._cell[0]

    @property
    def completed(self) -> int:
        return self._cell[1]


class ExecutionContext:
    """The API a task's ``execute`` uses. Created by the runner for each attempt."""

    def __init__(
        self,
        *,
        job_id: UUID,
        task_id: UUID,
        attempt: int,
        blobs: BlobStore,
        store: Store,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        on_dirty: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id
        self.task_id = task_id
        self.attempt = attempt
        self.logger = logger or logging.getLogger("conveyor.task")
        self.job_cache = JobCache(store, blobs, job_id, task_id=task_id, attempt=attempt)
        self._blobs = blobs
        self._subtasks: list[NewTask] = []
        self._progress: dict[str | None, list[int]] = {}
        self._handles: dict[str | None, ProgressHandle] = {}
        self._results: list[tuple[str, bytes, str]] = []
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._interrupt: BaseException | None = None
        self._cancelled = False
        self._dirty = False
        self._flushed: dict[str | None, tuple[int, int]] = {}  # see _changes
        self._wake = on_dirty

    # -- subtasks -------------------------------------------------------------------------
    def submit_subtask(
        self,
        task: Task,
        depends_on: Sequence[TaskHandle] | None = None,
        max_retries: int = 0,
        optional: bool = False,
    ) -> TaskHandle:
        """Submit a subtask; it runs after this attempt succeeds and its dependencies complete.

        ``depends_on`` may only name subtasks submitted earlier by this same task.
        Raises SerializationError at once if the task's input cannot be stored.
        """
        deps: list[int] = []
        for handle in depends_on or ():
            if not isinstance(handle, TaskHandle) or handle._owner != id(self):
                raise ValueError(
                    "depends_on may only name subtasks submitted earlier by the same task "
                    f"(got {handle!r})"
                )
            deps.append(handle.index)
        new = new_task(task, max_retries=max_retries, optional=optional, depends_on=tuple(deps))
        self._subtasks.append(new)
        return TaskHandle(new.id, len(self._subtasks) - 1, id(self))

    def submit_subtasks(
        self,
        tasks: Iterable[Task],
        depends_on: Sequence[TaskHandle] | None = None,
        max_retries: int = 0,
        optional: bool = False,
    ) -> list[TaskHandle]:
        """Submit several subtasks with the same options."""
        return [
            self.submit_subtask(
                t, depends_on=depends_on, max_retries=max_retries, optional=optional
            )
            for t in tasks
        ]

    # -- progress -------------------------------------------------------------------------
    def progress(self, label: str | None = None) -> ProgressHandle:
        """The progress indicator named ``label`` (None: the job's unnamed indicator)."""
        if self._interrupt is not None:
            raise self._interrupt
        handle = self._handles.get(label)
        if handle is None:
            if label is not None and (not isinstance(label, str) or not label):
                raise ValueError(f"progress labels are non-empty strings or None, got {label!r}")
            cell = self._progress.setdefault(label, [0, 0])
            handle = self._handles[label] = ProgressHandle(self, label, cell)
        return handle

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled; the next progress call raises TaskCancelledError."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        """Raise TaskCancelledError (or LeaseLostError) now if the attempt must stop."""
        if self._interrupt is not None:
            raise self._interrupt

    def publish(self, event_type: str, data: dict[str, Any]) -> None:
        """Publish a live event of the job (e.g. a preview image URL) to its event stream.

        Events go out with the next progress flush and are fenced like progress: a
        stale attempt's events are dropped. Types ``state`` and ``progress`` are reserved.
        """
        if not isinstance(event_type, str) or not event_type or event_type in _RESERVED_EVENTS:
            raise ValueError(f"invalid event type {event_type!r}")
        if self._interrupt is not None:
            raise self._interrupt
        json.dumps(data)  # fail here, in the task, if it cannot be stored
        self._events.append((event_type, dict(data)))
        if not self._dirty:
            self._mark_dirty()

    @property
    def blobs(self) -> BlobStore:
        """The job's blob store, written at once (not with the attempt's commit).

        For ephemeral live artifacts, such as diffusion previews announced with
        :meth:`publish`, that clients must fetch while the task still runs; durable
        outputs belong in :meth:`save_result` or :attr:`job_cache`.
        """
        return self._blobs

    # -- results --------------------------------------------------------------------------
    def save_result(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Save a result blob of the job (stored when the attempt succeeds); return its key."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"result names are non-empty and contain no '/': {name!r}")
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"results are bytes, got {type(data).__name__}")
        key = check_key(self.result_key(name))  # "..", NUL: refused here, not at upload
        self._results = [r for r in self._results if r[0] != name]
        self._results.append((name, bytes(data), content_type))
        return key

    def result_key(self, name: str) -> str:
        """Where result ``name`` is stored: at the top of the job's folder when the name has
        an extension (``image_0.png``), else in its ``results/`` folder.

        The folders of a job (``attempts/``, ``results/``, diffusion's ``previews/``, and
        ``cache/`` of earlier versions) have no extension, so no result can take their place;
        dot names (``.tmp-...`` is a local store's temp file) stay in ``results/`` too. A
        local store makes a directory per folder, and directories were a third of the files
        a one-image generation job created. Results of earlier versions keep the keys they
        were stored under.
        """
        if not name.startswith(".") and "." in name:
            return f"{job_prefix(self.job_id)}{name}"
        return f"{job_prefix(self.job_id)}results/{name}"

    # -- runner side ----------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        self._dirty = True
        if self._wake is not None:
            self._wake.set()

    def _snapshot(self) -> list[ProgressValue]:
        """Absolute values of every indicator (flushes are idempotent)."""
        self._dirty = False
        return [
            ProgressValue(label, cell[0], cell[1]) for label, cell in list(self._progress.items())
        ]

    def _changes(self) -> list[ProgressValue]:
        """Absolute values of the indicators that changed since the last ``_changes``: a live
        flush writes only those (a batch of image tasks moves one indicator of three while
        it denoises). After a flush that failed, ``_unflushed`` makes the next one whole."""
        self._dirty = False
        flushed = self._flushed
        changes = []
        for label, cell in list(self._progress.items()):
            value = (cell[0], cell[1])
            if flushed.get(label) != value:
                flushed[label] = value
                changes.append(ProgressValue(label, *value))
        return changes

    def _unflushed(self) -> None:
        """The last ``_changes`` were not stored: write every indicator with the next."""
        self._flushed.clear()
        self._mark_dirty()

    def _take_events(self) -> list[tuple[str, dict[str, Any]]]:
        events, self._events = self._events, []
        return events

    def _interrupt_with(self, exc: BaseException, *, cancelled: bool = False) -> None:
        if cancelled:
            self._cancelled = True
        if self._interrupt is None:
            self._interrupt = exc
