"""Tasks used by the benchmarks (importable by worker processes as a file)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import ClassVar

from conveyor import ExecutionContext, Task


class FanOut(Task):
    """Submits ``n`` NoOpTask subtasks in one commit."""

    n: int

    def execute(self, context: ExecutionContext) -> None:
        context.submit_subtasks(NoOpTask() for _ in range(self.n))


class NoOpTask(Task):
    def execute(self, context: ExecutionContext) -> None:
        return None


class ProgressLoop(Task):
    """Calls progress().done(1) ``calls`` times and records how long that took."""

    calls: int

    def execute(self, context: ExecutionContext) -> None:
        context.progress("loop").add(self.calls)
        start = time.perf_counter()
        for _ in range(self.calls):
            context.progress("loop").done(1)
        elapsed = time.perf_counter() - start
        context.save_result("timing.json", json.dumps({"seconds": elapsed}).encode())


class Shot(Task):
    """A generation job's shape: ``frames`` batchable Frame tasks, then a Sheet after them."""

    frames: int
    seconds: float

    def execute(self, context: ExecutionContext) -> None:
        frames = [context.submit_subtask(Frame(i, self.seconds)) for i in range(self.frames)]
        context.submit_subtask(Sheet(), depends_on=frames)


class Frame(Task):
    """A GPU batch stand-in: a batch of up to 8 sleeps ``seconds`` (the CPU stays idle, as
    while a GPU computes), whatever its size."""

    index: int
    seconds: float
    max_batch_size: ClassVar[int] = 8
    batch_wait: ClassVar[float] = float(os.environ.get("BENCH_BATCH_WAIT") or 0)

    def batch_key(self) -> str:
        return f"frame-{self.seconds}"

    @classmethod
    def execute_batch(
        cls, tasks: Sequence[Task], contexts: Sequence[ExecutionContext]
    ) -> list[BaseException | None]:
        time.sleep(max(t.seconds for t in tasks if isinstance(t, Frame)))
        return [None] * len(tasks)


class Sheet(Task):
    def execute(self, context: ExecutionContext) -> None:
        return None
