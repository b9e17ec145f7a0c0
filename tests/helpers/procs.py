"""Start and watch real `conveyor worker` processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def start_worker(
    db_url: str, env: dict[str, str], *extra: str, module: str = "helpers.proc_tasks"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "worker", module, "--database-url", db_url, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_until(
    predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        time.sleep(interval)


def log_lines(log_dir: Path) -> list[str]:
    return [line for f in sorted(log_dir.glob("*.log")) for line in f.read_text().splitlines()]


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    if proc.poll() is None:
        proc.terminate()
    out, _ = proc.communicate(timeout=timeout)
    return out.decode(errors="replace")
