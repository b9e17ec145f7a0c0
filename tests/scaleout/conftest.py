"""A small deployment on loopback: one PostgreSQL database, one S3 bucket (moto), two
``conveyor serve`` processes and three ``conveyor worker`` processes, stopped (and
their logs attached to a failure) when the test ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugins.api import Proc, Processes, Server, child_env, cli, free_port

__all__ = ["TASKS", "Deployment"]

TASKS = "scaleout.tasks"
LEASE_SECONDS = 2.0
START_TIMEOUT = 120.0


@dataclass
class Deployment:
    """The processes of ``deployment``: ``servers`` A and B, three ``workers``."""

    db_url: str
    blobs_url: str
    procs: Processes
    servers: list[Server]
    workers: list[Proc]
    executions: Path  # where the tasks log each execution (scaleout.tasks)


def wait_ready(server: Server, timeout: float = START_TIMEOUT) -> None:
    """Wait for ``/healthz`` (longer than ``Server.wait_ready``: five processes start at once
    on a machine that may be busy)."""
    assert server.popen is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise RuntimeError(f"server exited ({server.popen.returncode}):\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{server.output()}")


@pytest.fixture
def deployment(
    postgres_url: str, s3_server: str, s3_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    """Two API servers and three workers on one PostgreSQL database and one bucket."""
    env = child_env(CONVEYOR_S3_ENDPOINT_URL=s3_server)  # AWS_* credentials: from s3_server
    logs = tmp_path / "logs"
    executions = tmp_path / "executions"
    logs.mkdir()
    executions.mkdir()
    procs = Processes(logs)
    shared = ["--database-url", postgres_url, "--blobs-url", s3_url]
    try:
        servers = []
        for _ in range(2):
            port = free_port()
            args = cli("serve", TASKS, "--host", "127.0.0.1", "--port", str(port), *shared)
            servers.append(
                Server(args, logs / f"server-{port}.log", env, url=f"http://127.0.0.1:{port}")
            )
        worker_args = cli(
            "worker",
            TASKS,
            *shared,
            "--lease-seconds",
            str(LEASE_SECONDS),
            # A busy machine may delay a heartbeat past a 2 s lease now and then: that costs an
            # attempt (the test accounts for each), and must not fail the task.
            "--max-lease-losses",
            "20",
            "--shutdown-grace-seconds",
            "5",
        )
        workers = [Proc(worker_args, logs / f"worker-{i}.log", env) for i in range(3)]
        procs.procs += [*servers, *workers]
        for proc in procs.procs:  # all at once: each takes a second or more to import
            proc.start()
        for server in servers:
            wait_ready(server)
        yield Deployment(postgres_url, s3_url, procs, servers, workers, executions)
    finally:
        procs.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the servers' and workers' logs to a failure."""
    report = yield
    if report.failed and call.when == "call":
        deployment = getattr(item, "funcargs", {}).get("deployment")
        if isinstance(deployment, Deployment):
            report.sections.append(("deployment logs", deployment.procs.logs()))
    return report
