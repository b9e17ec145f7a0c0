"""Built-in example workflows: the demo job, and known jobs for tests and benchmarks.

``Countdown`` fans out ``n`` ``Tick`` tasks (each counting down ``steps`` steps,
reporting live on the ``count`` indicator), a ``Verify`` task after each tick
(``verify`` indicator, depends on its tick, reads the tick's job-cache entry),
and a final ``Summarize`` that depends on every verify and saves a JSON result.
"""

from __future__ import annotations

import json
import time

from conveyor.workflows import ExecutionContext, Task

__all__ = ["EXAMPLE_TASKS", "Countdown", "Fail", "NoOp", "Sleep", "Summarize", "Tick", "Verify"]


class Countdown(Task):
    """Fan-out/fan-in demo job with two named progress indicators and dependencies."""

    n: int = 5
    steps: int = 10
    delay: float = 0.05

    def execute(self, context: ExecutionContext) -> None:
        if self.n < 1 or self.steps < 1 or self.delay < 0:
            raise ValueError("n and steps must be positive and delay non-negative")
        context.progress("count").add(self.n * self.steps)
        context.progress("verify").add(self.n)
        verified = []
        for i in range(self.n):
            tick = context.submit_subtask(Tick(i, self.steps, self.delay), max_retries=2)
            verified.append(context.submit_subtask(Verify(i), depends_on=[tick]))
        context.submit_subtask(Summarize(self.n), depends_on=verified)


class Tick(Task):
    """Counts ``steps`` down, one progress unit per step, and leaves a note in the job cache."""

    index: int
    steps: int = 10
    delay: float = 0.05

    def execute(self, context: ExecutionContext) -> None:
        count = context.progress("count")
        for _ in range(self.steps):
            time.sleep(self.delay)
            count.done(1)
        context.job_cache.group("ticks")[str(self.index)] = str(self.steps).encode()


class Verify(Task):
    """Checks its tick's cache entry."""

    index: int

    def execute(self, context: ExecutionContext) -> None:
        steps = int(context.job_cache.group("ticks")[str(self.index)])
        if steps <= 0:
            raise RuntimeError(f"tick {self.index} recorded no steps")
        context.progress("verify").done(1)


class Summarize(Task):
    """Fan-in: reads every tick's entry and saves ``summary.json`` as the job's result."""

    n: int

    def execute(self, context: ExecutionContext) -> None:
        ticks = context.job_cache.group("ticks")
        summary = {"ticks": self.n, "steps": sum(int(ticks[k]) for k in ticks)}
        context.save_result("summary.json", json.dumps(summary).encode(), "application/json")


class NoOp(Task):
    """Does nothing: measures the queue itself."""

    def execute(self, context: ExecutionContext) -> None:
        return None


class Sleep(Task):
    """Sleeps ``seconds`` in ``steps`` steps, reporting progress on ``label``."""

    seconds: float = 1.0
    steps: int = 10
    label: str = "sleep"

    def execute(self, context: ExecutionContext) -> None:
        progress = context.progress(self.label)
        progress.add(self.steps)
        for _ in range(self.steps):
            time.sleep(self.seconds / self.steps)
            progress.done(1)


class Fail(Task):
    """Always raises: exercises retries and failure reporting."""

    message: str = "boom"

    def execute(self, context: ExecutionContext) -> None:
        raise RuntimeError(self.message)


EXAMPLE_TASKS: list[type[Task]] = [Countdown, Tick, Verify, Summarize, NoOp, Sleep, Fail]
