"""HTTP API fixtures: real ``conveyor serve`` and ``conveyor worker`` processes on loopback.

``api`` (session scope) is one server and one worker on one SQLite database, with
API keys for the tenants ``alice`` and ``bob``: most API tests share it, since a
server takes about a second to start. ``start_server``/``start_worker`` start more
(a second server on the same database, a dev-mode server without keys); every
process is stopped when its fixture ends, with its log attached to failures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.store import open_store

__all__ = [
    "ApiEnv",
    "Proc",
    "free_port",
    "read_sse",
    "wait_status",
]

SRC = Path(__file__).resolve().parents[2] / "src"
TESTS = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(SRC), str(TESTS)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    for name in list(env):
        if name.startswith("CONVEYOR_"):
            del env[name]
    env.update(extra)
    return env


@dataclass
class Proc:
    """A child process whose output goes to a log file."""

    args: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.log.parent,
            start_new_session=True,  # its own process group: stop() reaps grandchildren too
        )
        out.close()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        try:  # anything it started and left behind (conveyor dev's worker)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.popen.returncode


@dataclass
class Server(Proc):
    url: str = ""

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.popen is not None
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited ({self.popen.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {START_TIMEOUT}s:\n{self.output()}")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conveyor.cli", *args]


class Processes:
    """Starts servers and workers in a directory; stops them all at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[Proc] = []

    def server(
        self, db_url: str, *args: str, host: str = "127.0.0.1", env: dict[str, str] | None = None
    ) -> Server:
        port = free_port()
        name = f"server-{port}.log"
        server = Server(
            cli("serve", "--host", host, "--port", str(port), "--database-url", db_url, *args),
            self.directory / name,
            child_env(**(env or {})),
            url=f"http://127.0.0.1:{port}",
        )
        self.procs.append(server)
        server.start()
        return server.wait_ready()

    def worker(self, db_url: str, *modules: str, env: dict[str, str] | None = None) -> Proc:
        worker = Proc(
            cli("worker", *(modules or ("conveyor.examples",)), "--database-url", db_url),
            self.directory / f"worker-{len(self.procs)}.log",
            child_env(**(env or {})),
        )
        self.procs.append(worker)
        return worker.start()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()[-4000:]}" for p in self.procs)


@dataclass
class ApiEnv:
    """The shared server: its URL, database, and one API key per tenant."""

    url: str
    db_url: str
    keys: dict[str, str] = field(default_factory=dict)
    procs: Processes | None = None

    def headers(self, tenant: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def http(self, tenant: str = "alice", **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(tenant), timeout=30, **kwargs)


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    directory = tmp_path_factory.mktemp("api")
    db_url = f"sqlite:///{directory / 'conveyor.db'}"
    store = open_store(db_url)
    keys = {tenant: store.create_api_key(tenant)[1] for tenant in ("alice", "bob")}
    store.close()
    procs = Processes(directory)
    try:
        server = procs.server(db_url, "--no-notifier")
        procs.worker(db_url)
        yield ApiEnv(server.url, db_url, keys, procs)
    finally:
        procs.stop_all()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start extra servers/workers for one test; they are stopped after it."""
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the logs of this test's server and worker processes to its failure."""
    report = yield
    if report.failed and call.when == "call":
        for name in ("processes", "api"):
            value = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            procs = value.procs if isinstance(value, ApiEnv) else value
            if isinstance(procs, Processes):
                report.sections.append((f"{name} logs", procs.logs()))
    return report


# -- helpers -----------------------------------------------------------------------------------
def wait_status(
    http: httpx.Client,
    job_id: str,
    statuses: set[str] | Callable[[dict[str, Any]], bool],
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}/status`` until it matches; return the last status document."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/jobs/{job_id}/status")
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        done = statuses(doc) if callable(statuses) else doc["status"] in statuses
        if done:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {doc['status']} after {timeout}s: {doc}")
        time.sleep(0.05)


def read_sse(
    http: httpx.Client,
    job_id: str,
    *,
    last_event_id: int | None = None,
    stop_after: int | None = None,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Read a job's SSE stream: every event's ``{"sse_id", "sse_event", **data}``, until the
    server ends the stream or ``stop_after`` events (then hang up: a forced disconnect)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    events: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    with http.stream(
        "GET", f"/jobs/{job_id}/events", headers=headers, timeout=httpx.Timeout(timeout)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                current[name] = value
                continue
            if "data" in current:
                event = json.loads(current["data"])
                event["sse_id"] = int(current["id"])
                event["sse_event"] = current["event"]
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    break
            current = {}
    return events
