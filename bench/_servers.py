"""Helpers of the API benchmarks: start ``conveyor serve``/``worker`` processes, percentiles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["Procs", "free_port", "percentile"]

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Procs:
    """Child processes of one benchmark run, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.children: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(SRC), str(Path(__file__).parent), self.env.get("PYTHONPATH", "")]
        )

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("wb")
        profile = os.environ.get(f"BENCH_PROFILE_{name.upper()}")  # a cProfile output path
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        child = subprocess.Popen(
            [sys.executable, *prefix, "-m", "conveyor.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, **env},
            cwd=self.directory,
        )
        self.children.append(child)
        return child

    def server(self, db_url: str, *args: str, **env: str) -> str:
        port = free_port()
        self.start(
            "server",
            "serve",
            *args,
            "--port",
            str(port),
            "--database-url",
            db_url,
            "--no-notifier",
            "--log-level",
            "warning",
            **env,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError((self.directory / "server.log").read_text())

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
