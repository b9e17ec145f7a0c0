"""A job's estimated time to completion: simple, cheap, and honest about not knowing.

- PENDING: the runnable tasks ahead of the job, spread over the workers busy now
  (at least one), times the mean duration of recent tasks; plus the job's own run
  time, taken as the mean run time of recent completed jobs with the same name
  (or one task's mean duration when there are none).
- PROCESSING: when the job reports progress, extrapolate its rate
  (elapsed x remaining / done, over all indicators together); otherwise the mean
  run time of recent jobs with the same name minus the time already spent.
- Terminal jobs, or no history at all: None.
"""

from __future__ import annotations

import time

from conveyor.models import Job, JobState
from conveyor.store._api import TimingStats

__all__ = ["estimate_eta"]


def estimate_eta(
    job: Job, stats: TimingStats, queue_position: int | None, now: float | None = None
) -> float | None:
    """Seconds until ``job`` likely finishes, or None when there is nothing to go on."""
    now = time.time() if now is None else now
    if job.state is JobState.QUEUED:
        per_task = stats.avg_task_seconds
        run = stats.avg_job_seconds if stats.avg_job_seconds is not None else per_task
        if per_task is None or run is None:
            return None
        wait = (queue_position or 0) * per_task / max(1, stats.busy_workers)
        return round(wait + run, 3)
    if job.state is JobState.STARTED:
        elapsed = max(0.0, now - job.started_at.timestamp()) if job.started_at else 0.0
        total = sum(p.total for p in job.progress)
        done = sum(p.done for p in job.progress)
        if total > 0 and done > 0:
            return round(elapsed * max(0, total - done) / done, 3)
        if stats.avg_job_seconds is not None:
            return round(max(0.0, stats.avg_job_seconds - elapsed), 3)
    return None
