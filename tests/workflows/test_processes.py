"""Real runner processes on one SQLite file: contention, crashes, zombies, SIGTERM."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from conveyor import Client, JobState, ProgressIndicator, TaskState
from helpers.proc_tasks import Blocking, SlowSteps, Spawn
from helpers.procs import log_lines, start_worker, stop, wait_until

pytestmark = pytest.mark.slow


def test_four_runners_drain_2000_tasks_each_exactly_once(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("spawn", Spawn(2000, str(tmp_path)))
    workers = [start_worker(db_url, subprocess_env, "--drain") for _ in range(4)]
    outputs = [stop_after_exit(w) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    marks = Counter(line for line in log_lines(tmp_path) if line.startswith("mark"))
    assert len(marks) == 2000
    assert set(marks.values()) == {1}
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED
    assert job.progress == [ProgressIndicator("marks", 2000, 2000)]
    per_process = [len(f.read_text().splitlines()) for f in tmp_path.glob("*.log")]
    assert len(per_process) >= 2  # the work really was shared


def stop_after_exit(proc, timeout: float = 120) -> str:  # type: ignore[no-untyped-def]
    out, _ = proc.communicate(timeout=timeout)
    return out.decode(errors="replace")


def test_kill_9_mid_task_another_runner_finishes_with_exact_progress(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("slow", SlowSteps(20, 0.05, str(tmp_path)))
    first = start_worker(db_url, subprocess_env, "--lease-seconds", "1")
    try:
        wait_until(lambda: any(p.done >= 5 for p in client.jobs().find(job.id).progress))
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        second = start_worker(db_url, subprocess_env, "--lease-seconds", "1")
        try:
            wait_until(lambda: client.jobs().find(job.id).state.terminal, timeout=60)
        finally:
            stop(second)
    finally:
        if first.poll() is None:
            first.kill()
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED
    assert job.progress == [ProgressIndicator("steps", 20, 20)]
    [task] = client.jobs().tasks(job.id)
    assert task.attempt == 2 and task.lease_losses == 1 and task.failures == 0
    assert log_lines(tmp_path) == ["start 1", "start 2", "end 2"]


def test_zombie_runner_late_writes_are_rejected(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("slow", SlowSteps(10, 0.15, str(tmp_path)))
    zombie = start_worker(db_url, subprocess_env, "--lease-seconds", "1")
    rescuer = None
    try:
        wait_until(lambda: "start 1" in log_lines(tmp_path))
        os.kill(zombie.pid, signal.SIGSTOP)  # frozen: no heartbeats, lease runs out
        rescuer = start_worker(db_url, subprocess_env, "--lease-seconds", "1")
        wait_until(lambda: "start 2" in log_lines(tmp_path), timeout=30)
        os.kill(zombie.pid, signal.SIGCONT)  # wakes up believing it still owns the task
        wait_until(lambda: client.jobs().find(job.id).state.terminal, timeout=60)
        wait_until(lambda: "end 2" in log_lines(tmp_path), timeout=30)
    finally:
        os.kill(zombie.pid, signal.SIGCONT)
        zombie_out = stop(zombie)
        if rescuer is not None:
            stop(rescuer)
    job = client.jobs().find(job.id)
    assert job.state is JobState.COMPLETED
    assert job.progress == [ProgressIndicator("steps", 10, 10)]
    [task] = client.jobs().tasks(job.id)
    assert task.attempt == 2
    completed = [
        e
        for e in client.store.events_after(job.id)
        if e.type == "state" and e.data["state"] == "COMPLETED"
    ]
    assert len(completed) == 1
    assert "lost its lease" in zombie_out


def test_sigterm_lets_the_current_task_finish(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("slow", SlowSteps(10, 0.1, str(tmp_path)))
    worker = start_worker(db_url, subprocess_env, "--shutdown-grace-seconds", "20")
    wait_until(lambda: "start 1" in log_lines(tmp_path))
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    assert worker.returncode == 0
    assert log_lines(tmp_path) == ["start 1", "end 1"]
    assert client.jobs().find(job.id).state is JobState.COMPLETED


def test_sigterm_past_grace_hands_the_task_back(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("block", Blocking(30, str(tmp_path)))
    worker = start_worker(db_url, subprocess_env, "--shutdown-grace-seconds", "0.5")
    wait_until(lambda: "start 1" in log_lines(tmp_path))
    worker.send_signal(signal.SIGTERM)
    worker.wait(15)
    assert worker.returncode == 0
    [task] = client.jobs().tasks(job.id)
    assert task.state is TaskState.QUEUED  # handed back at once, no lease to wait out
    assert task.failures == 0 and task.lease_losses == 0
    assert "end 1" not in log_lines(tmp_path)


def test_heartbeats_keep_the_lease_of_a_task_busy_in_native_code(
    client: Client, db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    job = client.jobs().submit("block", Blocking(3, str(tmp_path)))
    workers = [start_worker(db_url, subprocess_env, "--lease-seconds", "0.6") for _ in range(2)]
    try:
        wait_until(lambda: client.jobs().find(job.id).state.terminal, timeout=60)
    finally:
        for w in workers:
            stop(w)
    assert log_lines(tmp_path) == ["start 1", "end 1"]
    [task] = client.jobs().tasks(job.id)
    assert task.attempt == 1 and task.lease_losses == 0
