"""Progress bars that follow a job's events until it ends: ``conveyor watch`` and ``conveyor
demo``, against a server (SSE, resumed on reconnect) or a local database (its event log),
both through ``jobs().watch()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from conveyor.cli._app import console
from conveyor.models import Event

__all__ = ["follow_events"]

_COLUMNS = (
    SpinnerColumn(),
    # Labels are the tasks' own text: shown as written, never read as rich markup.
    TextColumn("{task.description:<8}", style="bold", markup=False),
    BarColumn(),
    MofNCompleteColumn(),
    TimeElapsedColumn(),
)


def follow_events(
    jobs: Any,
    job_id: UUID | str,
    *,
    waiting: str | None = None,
    on_state: Callable[[Progress, Event], None] | None = None,
) -> None:
    """One bar per progress indicator, fed by the job's events, until its terminal state.

    ``waiting`` is shown as an open-ended bar until the first progress arrives (a worker
    loading a model); ``on_state`` sees each state event.
    """
    bars: dict[str | None, Any] = {}
    with Progress(*_COLUMNS, console=console) as progress:
        pending = progress.add_task(waiting, total=None) if waiting else None
        for event in jobs.watch(job_id):
            if event.type == "state":
                if on_state is not None:
                    on_state(progress, event)
                continue
            if pending is not None:
                progress.remove_task(pending)
                pending = None
            for p in event.data.get("progress", []):
                label = p.get("label")
                if label not in bars:
                    bars[label] = progress.add_task(label or "progress", total=p["total"])
                progress.update(bars[label], total=p["total"], completed=p["done"])
