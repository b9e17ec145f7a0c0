"""Tasks used by the benchmarks (importable by worker processes as a file)."""

from __future__ import annotations

import json
import time

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
