"""Tasks run by real runner processes in tests. Each execution appends a line to a log file
so tests can check how often every task ran."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conveyor import ExecutionContext, Task


def _record(log_dir: str, line: str) -> None:
    path = Path(log_dir) / f"{os.getpid()}.log"
    with path.open("a") as f:
        f.write(line + "\n")


class Spawn(Task):
    """Fans out ``n`` Mark tasks."""

    n: int
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        context.progress("marks").add(self.n)
        for i in range(self.n):
            context.submit_subtask(Mark(i, self.log_dir))


class Mark(Task):
    index: int
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(self.log_dir, f"mark {self.index}")
        context.progress("marks").done(1)


class SlowSteps(Task):
    """Reports ``steps`` steps ``delay`` apart; records start and end of each execution."""

    steps: int
    delay: float
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(self.log_dir, f"start {context.attempt}")
        progress = context.progress("steps")
        progress.add(self.steps)
        for _ in range(self.steps):
            time.sleep(self.delay)
            progress.done(1)
        _record(self.log_dir, f"end {context.attempt}")


class Blocking(Task):
    """Sleeps without reporting progress (a task busy in native code)."""

    seconds: float
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(self.log_dir, f"start {context.attempt}")
        time.sleep(self.seconds)
        context.progress("blocking").add(1)
        context.progress("blocking").done(1)
        _record(self.log_dir, f"end {context.attempt}")
