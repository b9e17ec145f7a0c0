"""Tasks of bench/dispatch.py (importable by worker processes as a file)."""

from __future__ import annotations

import time

from conveyor import ExecutionContext, Task


class Stamp(Task):
    """Appends ``<job id> <time execute started>`` to a file: the end of a dispatch."""

    path: str

    def execute(self, context: ExecutionContext) -> None:
        started = time.time()
        with open(self.path, "a") as f:
            f.write(f"{context.job_id} {started!r}\n")
