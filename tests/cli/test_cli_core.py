"""The conveyor command on the embedded default: worker, jobs, demo, and clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conveyor import Client, JobState
from conveyor.examples import Countdown, Fail, Sleep


def conveyor(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_runs_the_main_job_in_the_current_directory(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    result = conveyor(
        "demo", "--example", "countdown", "--ticks", "3", "--steps", "3",
        env=subprocess_env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "COMPLETED" in result.stdout
    assert (tmp_path / "conveyor.db").exists()
    assert Client(f"sqlite:///{tmp_path / 'conveyor.db'}").jobs().query()[0].state is (
        JobState.COMPLETED
    )


def test_worker_drain_and_jobs_commands(
    client: Client, db_url: str, subprocess_env: dict[str, str]
) -> None:
    ok = client.jobs().submit("count", Countdown(n=2, steps=2, delay=0))
    bad = client.jobs().submit("fail", Fail("kaput"))
    result = conveyor(
        "worker", "conveyor.examples", "--database-url", db_url, "--drain", env=subprocess_env
    )
    assert result.returncode == 0, result.stdout + result.stderr

    listing = conveyor("jobs", "list", "--database-url", db_url, env=subprocess_env)
    assert listing.returncode == 0 and "COMPLETED" in listing.stdout and "FAILED" in listing.stdout

    shown = conveyor("jobs", "show", str(bad.id), "--database-url", db_url, env=subprocess_env)
    assert "RuntimeError: kaput" in shown.stdout
    shown = conveyor("jobs", "show", str(ok.id), "--database-url", db_url, env=subprocess_env)
    assert "summary.json" in shown.stdout

    retried = conveyor("jobs", "retry", str(bad.id), "--database-url", db_url, env=subprocess_env)
    assert retried.returncode == 0 and "STARTED" in retried.stdout

    sleeper = client.jobs().submit("sleep", Sleep(5))
    cancelled = conveyor(
        "jobs", "cancel", str(sleeper.id), "--database-url", db_url, env=subprocess_env
    )
    assert cancelled.returncode == 0 and "CANCELED" in cancelled.stdout


def test_errors_are_one_line_without_traceback(
    db_url: str, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    cases = [
        ("jobs", "show", "00000000-0000-0000-0000-000000000000", "--database-url", db_url),
        ("jobs", "show", "not-a-uuid", "--database-url", db_url),
        ("jobs", "list", "--database-url", "mysql://nope"),
        ("worker", "no_such_module_xyz", "--database-url", db_url),
        ("worker", str(tmp_path / "missing.py"), "--database-url", db_url),
    ]
    for args in cases:
        result = conveyor(*args, env=subprocess_env)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr + result.stdout, (args, result.stderr)
        assert "error" in (result.stderr + result.stdout).lower(), args
