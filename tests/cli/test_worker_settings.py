"""``conveyor worker`` settings that shape how a worker writes, as flag and as env var."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.examples import Sleep
from conveyor.models import JobState
from conveyor.workflows import Client


@pytest.mark.parametrize("how", ["flag", "env"])
def test_progress_interval_seconds_spaces_live_progress_writes(
    how: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """60 progress steps over 1.2 s: at most one write per 0.4 s (plus the first and the final
    one), where the default 0.1 s would write about 12 times."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with Client(url) as client:
        job = client.jobs().submit("sleep", Sleep(seconds=1.2, steps=60))
    command = [sys.executable, "-m", "conveyor.cli", "worker", "conveyor.examples", "--drain"]
    command += ["--database-url", url]
    env = dict(subprocess_env)
    if how == "flag":
        command += ["--progress-interval-seconds", "0.4"]
    else:
        env["CONVEYOR_PROGRESS_INTERVAL_SECONDS"] = "0.4"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    with Client(url) as client:
        assert client.jobs().find(job.id).state is JobState.COMPLETED
        progress_events = [e for e in client.store.events_after(job.id) if e.type == "progress"]
    assert 2 <= len(progress_events) <= 6, len(progress_events)
