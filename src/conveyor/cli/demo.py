"""``conveyor demo``: the whole system on this machine, drawing the digits 0-9.

It starts the HTTP API (uvicorn, in a thread of this process, on a free loopback port) and a
worker (a child process: it imports torch and loads the bundled digits model, the API does
not), submits ``POST /generate`` for the ten digits, follows the job's event stream with
live progress bars, and saves the job's contact sheet to the current directory. Everything
is stored in the embedded default (``./conveyor.db`` and ``./conveyor-data/``), so the job
stays inspectable with ``conveyor jobs show`` afterwards.

``conveyor demo --example countdown`` runs the model-free example workflow instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from conveyor.cli._app import app, console, fail
from conveyor.cli._follow import follow_events
from conveyor.cli._options import BlobsUrl, DatabaseUrl
from conveyor.models import JobState
from conveyor.settings import Settings

__all__ = ["demo"]

_STARTUP_TIMEOUT = 30.0


def _bound_socket() -> socket.socket:
    """A loopback socket on a free port, bound now so no other process can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def _api_server(settings: Settings, sock: socket.socket) -> Iterator[str]:
    """Serve the API on ``sock`` in a background thread; yield its base URL."""
    import uvicorn

    from conveyor.api.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="conveyor-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise fail("the API server did not start")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def _worker(database_url: str, blobs_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``conveyor worker`` child process for the diffusion tasks, stopped on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conveyor.cli",
                "worker",
                "conveyor.diffusion.tasks",
                "--database-url",
                database_url,
                "--blobs-url",
                blobs_url,
                "--shutdown-grace-seconds",
                "5",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _guard(
    proc: subprocess.Popen[bytes], cancel: Any, timeout: float, done: threading.Event
) -> None:
    """Cancel the job if the worker dies or the demo runs past ``timeout`` (ends the stream)."""
    deadline = time.monotonic() + timeout
    while not done.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            cancel()
            return


def _generate_demo(
    database_url: str | None,
    blobs_url: str | None,
    steps: int,
    seed: int | None,
    size: int,
    timeout: float,
) -> None:
    from conveyor.api.app import effective_blobs_url
    from conveyor.cli._server import build_settings
    from conveyor.remote import RemoteClient

    sock = _bound_socket()
    settings = build_settings(
        database_url=database_url,
        blobs_url=blobs_url,
        host="127.0.0.1",
        port=sock.getsockname()[1],
        api_keys_required=False,  # loopback only, for this process's own requests
        notifier=False,
    )
    settings = settings.model_copy(update={"blobs_url": effective_blobs_url(settings)})
    fd, name = tempfile.mkstemp(prefix="conveyor-demo-worker-", suffix=".log")
    os.close(fd)
    log = Path(name)
    with (
        _worker(settings.database_url, settings.blobs_url, log) as proc,
        _api_server(settings, sock) as url,
        RemoteClient(url, api_key="") as client,
    ):
        console.print(f"API on [bold]{url}[/], worker pid {proc.pid}", highlight=False)
        body: dict[str, Any] = {
            "prompts": [str(digit) for digit in range(10)],
            "num_inference_steps": steps,
            "width": size,
            "height": size,
            "seed": seed,
        }
        response = client.http.post("/generate", json=body)
        if response.status_code != 202:
            raise fail(f"POST /generate answered {response.status_code}: {response.text}")
        job_id = response.json()["id"]
        job_url = f"{url}/jobs/{job_id}"
        console.print(f"POST /generate → 202, job [bold]{job_id}[/]", highlight=False)
        jobs = client.jobs()
        done = threading.Event()
        guard = threading.Thread(
            target=_guard, args=(proc, lambda: jobs.cancel(job_id), timeout, done), daemon=True
        )
        guard.start()
        try:
            follow_events(jobs, job_id, waiting="waiting for the worker to load the model")
        finally:
            done.set()
        job = jobs.find(job_id)
        if job.state is not JobState.COMPLETED:
            tail = log.read_text(errors="replace")[-3000:]
            console.print(tail, markup=False, highlight=False)
            reason = f"{job.error.type}: {job.error.message}" if job.error else "see the log"
            raise fail(f"job {job_id} ended {job.state.value}: {reason} (worker log: {log})")
        sheet = jobs.download(job_id, "contact_sheet.png")
    log.unlink(missing_ok=True)
    path = Path.cwd() / f"contact_sheet_{job_id[:8]}.png"
    path.write_bytes(sheet)
    console.print(
        f"contact sheet of the digits 0-9: [bold]{path}[/]", highlight=False, soft_wrap=True
    )
    console.print(
        f"job: {job_url} (serve it again with `conveyor serve`)", highlight=False, soft_wrap=True
    )


def _countdown_demo(
    database_url: str | None, blobs_url: str | None, ticks: int, steps: int
) -> None:
    """The model-free example: a fan-out/fan-in countdown run by an in-process runner."""
    from conveyor.examples import EXAMPLE_TASKS, Countdown
    from conveyor.workflows import Client

    client = Client(database_url, blobs_url=blobs_url)
    jobs = client.jobs()
    job = jobs.submit("countdown", Countdown(n=ticks, steps=steps, delay=0.02))
    console.print(f"submitted job [bold]{job.id}[/] to {client.url}", highlight=False)
    runner = client.runner(tasks=EXAMPLE_TASKS)
    thread = threading.Thread(target=runner.run_all, daemon=True)
    thread.start()
    follow_events(jobs, job.id)
    thread.join()
    final = jobs.find(job.id)
    console.print(f"job {final.id} [bold]{final.state.value}[/]")
    for result in final.results:
        text = f"result {result.name}: {client.blobs.get(result.blob_key).decode()}"
        console.print(text, markup=False)
    if final.error:
        raise fail(f"{final.error.type}: {final.error.message}")


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    blobs_url: BlobsUrl = None,
    steps: Annotated[
        int, typer.Option(min=1, max=500, help="denoising steps (countdown: steps per tick)")
    ] = 20,
    seed: Annotated[
        int | None, typer.Option(min=0, help="seed of digit 0 (digit d uses seed + d)")
    ] = None,
    size: Annotated[int, typer.Option(min=8, max=512, help="image side in pixels")] = 64,
    timeout: Annotated[float, typer.Option(min=1, help="cancel the job after this long")] = 300,
    example: Annotated[
        str | None, typer.Option(help="run a model-free example workflow instead: countdown")
    ] = None,
    ticks: Annotated[int, typer.Option(min=1, max=1000, help="countdown: number of ticks")] = 8,
) -> None:
    """Serve the API, start a worker, generate the digits 0-9 with live progress, and save
    their contact sheet to the current directory."""
    if example is not None:
        if example != "countdown":
            raise fail(f"unknown example {example!r}; available: countdown")
        _countdown_demo(database_url, blobs_url, ticks, steps)
        return
    _generate_demo(database_url, blobs_url, steps, seed, size, timeout)
