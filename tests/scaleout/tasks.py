"""Tasks the scale-out test runs in real worker processes.

Every execution appends ``start``/``end`` lines to a log file of its own process
(``<log_dir>/<pid>.log``: ``start <job> <task> <attempt> <name>``), so the test can
count how often each task ran, in which process and under which attempt number,
including attempts a ``kill -9`` cut short.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

from conveyor import ExecutionContext, Task

__all__ = ["Chunk", "Fanout", "Gather", "LogLine", "read_log_lines"]


class LogLine(NamedTuple):
    """One line of an execution log."""

    pid: int
    what: str  # "start" or "end"
    job_id: str
    task_id: str
    attempt: int
    name: str


def read_log_lines(log_dir: Path) -> list[LogLine]:
    """Every line every process wrote so far."""
    lines = []
    for path in sorted(log_dir.glob("*.log")):
        for text in path.read_text().splitlines():
            what, job_id, task_id, attempt, name = text.split()
            lines.append(LogLine(int(path.stem), what, job_id, task_id, int(attempt), name))
    return lines


def _record(context: ExecutionContext, log_dir: str, what: str, name: str) -> None:
    line = f"{what} {context.job_id} {context.task_id} {context.attempt} {name}\n"
    with (Path(log_dir) / f"{os.getpid()}.log").open("a") as f:
        f.write(line)  # one write(2) of a short line: whole even if the process is killed


class Fanout(Task):
    """Fans out ``n`` Chunks and a Gather that depends on all of them."""

    n: int
    steps: int
    delay: float
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(context, self.log_dir, "start", "fanout")
        context.progress("steps").add(self.n * self.steps)
        context.progress("chunks").add(self.n)
        chunks = [
            context.submit_subtask(Chunk(i, self.steps, self.delay, self.log_dir))
            for i in range(self.n)
        ]
        context.submit_subtask(Gather(self.n, self.log_dir), depends_on=chunks)
        _record(context, self.log_dir, "end", "fanout")


class Chunk(Task):
    """``steps`` steps ``delay`` apart, one ``steps`` progress unit each; leaves its step
    count in the job cache (the blob store) for Gather."""

    index: int
    steps: int
    delay: float
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(context, self.log_dir, "start", "chunk")
        steps = context.progress("steps")
        for _ in range(self.steps):
            time.sleep(self.delay)
            steps.done(1)
        context.job_cache.group("chunks")[str(self.index)] = str(self.steps).encode()
        context.progress("chunks").done(1)
        _record(context, self.log_dir, "end", "chunk")


class Gather(Task):
    """Fan-in: reads every chunk's cache entry and saves ``summary.json``."""

    n: int
    log_dir: str

    def execute(self, context: ExecutionContext) -> None:
        _record(context, self.log_dir, "start", "gather")
        cache = context.job_cache.group("chunks")
        summary = {"chunks": len(cache.keys()), "steps": sum(int(cache[k]) for k in cache)}
        context.save_result("summary.json", json.dumps(summary).encode(), "application/json")
        _record(context, self.log_dir, "end", "gather")
