"""``POST /generate`` against a real ``conveyor serve`` and a real ``conveyor worker`` process.

The worker runs the digits model and a tiny random Stable Diffusion folder configured through
``CONVEYOR_MODELS``, exactly as a deployment would; the API process validates requests
without ever loading torch.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from plugins.api import Proc, Processes, Server, read_sse, wait_status

pytestmark = pytest.mark.slow


@dataclass
class System:
    server: Server
    worker: Proc
    procs: Processes

    def http(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_sd_path: Path) -> Iterator[System]:
    directory = tmp_path_factory.mktemp("generate-api")
    db_url = f"sqlite:///{directory / 'conveyor.db'}"
    env = {"CONVEYOR_MODELS": json.dumps({"sd-tiny": str(tiny_sd_path)}), "CONVEYOR_DEVICE": "cpu"}
    procs = Processes(directory)
    try:
        server = procs.server(db_url, "--no-notifier", env=env)
        worker = procs.worker(db_url, "conveyor.diffusion.tasks", env=env)
        yield System(server, worker, procs)
    finally:
        procs.stop_all()


@pytest.fixture
def processes(system: System) -> Processes:
    """Attach the server's and worker's logs to a failing test's report."""
    return system.procs


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def _submit(http: httpx.Client, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = http.post("/generate", json=body, headers=headers)
    assert response.status_code == 202, response.text
    doc: dict[str, Any] = response.json()
    assert response.headers["Location"] == doc["status_url"]
    assert int(response.headers["Retry-After"]) >= 0
    return doc


def test_generate_streams_progress_and_serves_pngs(system: System, processes: Processes) -> None:
    body = {
        "prompt": "draw the digit seven",
        "num_images": 2,
        "num_inference_steps": 30,
        "width": 48,
        "height": 48,
        "seed": 3,
        "preview_every": 10,
    }
    with system.http() as http:
        accepted = _submit(http, body)
        assert accepted["status"] == "PENDING"
        job_id = accepted["id"]
        assert accepted["status_url"].endswith(f"/jobs/{job_id}/status")
        assert accepted["events_url"].endswith(f"/jobs/{job_id}/events")
        assert accepted["websocket_url"].startswith("ws://")

        events = read_sse(http, job_id, timeout=120)  # until the job's terminal state
        status = wait_status(http, job_id, {"COMPLETED", "FAILED", "CANCELED"})
        assert status["status"] == "COMPLETED", status

        denoise = [
            next(p for p in e["data"]["progress"] if p["label"] == "denoise")
            for e in events
            if e["sse_event"] == "progress"
        ]
        done = [p["done"] for p in denoise]
        assert {p["total"] for p in denoise} == {60}
        assert done == sorted(done) and done[-1] == 60
        assert len({d for d in done if 0 < d < 60}) >= 2, done  # live, step by step

        previews = [e["data"] for e in events if e["sse_event"] == "preview"]
        assert sorted((p["index"], p["step"]) for p in previews) == [
            (0, 10),
            (0, 20),
            (1, 10),
            (1, 20),
        ]
        preview = http.get(previews[0]["url"])  # relative to the API's base URL
        assert preview.status_code == 200
        assert preview.headers["content-type"] == "image/png"
        _png(preview.content)

        files = {f["name"]: f for f in status["result"]["files"]}
        assert set(files) == {"image_0.png", "image_1.png", "contact_sheet.png", "generation.json"}
        image = http.get(files["image_0.png"]["url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert _png(image.content).size == (48, 48)
        assert _png(http.get(files["contact_sheet.png"]["url"]).content).size == (2 * 48 + 6, 52)
        meta = status["result"]["inline"]["generation.json"]
        assert meta["seed"] == 3 and [i["seed"] for i in meta["images"]] == [3, 4]
        assert [(p["label"], p["total"], p["done"]) for p in status["progress"]] == [
            ("denoise", 60, 60),
            ("images", 2, 2),
            ("upload", 3, 3),
        ]


def test_a_local_stable_diffusion_folder_runs_through_the_system(system: System) -> None:
    body = {
        "prompt": "a photo of a red cat",
        "model": "sd-tiny",
        "num_images": 2,
        "num_inference_steps": 4,
        "width": 32,
        "height": 32,
        "seed": 11,
    }
    with system.http() as http:
        job_id = _submit(http, body)["id"]
        status = wait_status(http, job_id, {"COMPLETED", "FAILED", "CANCELED"}, timeout=120)
        assert status["status"] == "COMPLETED", status
        files = {f["name"]: f["url"] for f in status["result"]["files"]}
        for name in ("image_0.png", "image_1.png"):
            image = _png(http.get(files[name]).content)
            assert image.size == (32, 32) and image.mode == "RGB"
        assert _png(http.get(files["contact_sheet.png"]).content).size == (2 * 32 + 6, 36)
        # the same request again draws the same bytes (same seed, same device)
        again = wait_status(http, _submit(http, body)["id"], {"COMPLETED"}, timeout=120)
        again_files = {f["name"]: f["url"] for f in again["result"]["files"]}
        same = http.get(again_files["image_1.png"]).content
        assert same == http.get(files["image_1.png"]).content


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "prompt"]),
        ({"prompt": "hello there"}, ["body", "prompt"]),  # the digits model needs a digit
        ({"prompt": "7" * 2001}, ["body", "prompt"]),
        ({"prompt": "7", "num_inference_steps": 0}, ["body", "num_inference_steps"]),
        ({"prompt": "7", "num_inference_steps": 501}, ["body", "num_inference_steps"]),
        ({"prompt": "7", "num_images": 65}, ["body", "num_images"]),
        ({"prompt": "7", "width": 4}, ["body", "width"]),
        ({"prompt": "7", "height": 5000}, ["body", "height"]),
        ({"prompt": "cat", "model": "sd-tiny", "width": 36}, ["body", "width"]),
        ({"prompt": "7", "model": "stabilityai/sdxl-turbo"}, ["body", "model"]),
        ({"prompts": ["1", "a cat"]}, ["body", "prompts", 1]),
        ({"prompts": ["1", "2"], "num_images": 3}, ["body", "num_images"]),
        ({"prompt": "7", "preview_every": 0}, ["body", "preview_every"]),
        ({"prompt": "7", "seed": -1}, ["body", "seed"]),
        ({"prompt": "7", "steps": 10}, ["body", "steps"]),
        ({"prompt": "7", "callback_url": "http://10.0.0.1/hook"}, ["body", "callback_url"]),
    ],
)
def test_invalid_requests_are_422_naming_the_field(
    system: System, body: dict[str, Any], loc: list[Any]
) -> None:
    with system.http() as http:
        started = time.monotonic()
        response = http.post("/generate", json=body)
        assert time.monotonic() - started < 5  # refused locally: nothing is fetched
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc, detail
    assert detail[0]["msg"]


def test_unknown_model_message_lists_the_available_ones(system: System) -> None:
    with system.http() as http:
        response = http.post("/generate", json={"prompt": "7", "model": "sd-huge"})
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "sd-huge" in message and "digits" in message and "sd-tiny" in message


def test_idempotency_key_returns_the_same_job(system: System) -> None:
    body = {"prompt": "4", "num_inference_steps": 3}
    with system.http() as http:
        first = _submit(http, body, **{"Idempotency-Key": "gen-42"})
        second = _submit(http, body, **{"Idempotency-Key": "gen-42"})
        assert first["id"] == second["id"]
        other = http.post(
            "/generate", json={**body, "prompt": "5"}, headers={"Idempotency-Key": "gen-42"}
        )
        assert other.status_code == 409
        wait_status(http, first["id"], {"COMPLETED"})


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_rate(pid: int, seconds: float) -> float:
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) / seconds


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_cancel_stops_the_worker_computing(system: System) -> None:
    assert system.worker.popen is not None
    pid = system.worker.popen.pid
    body = {"prompt": "8", "num_images": 8, "num_inference_steps": 500, "seed": 1}
    with system.http() as http:
        job_id = _submit(http, body)["id"]

        def denoised(doc: dict[str, Any]) -> int:
            return next((p["done"] for p in doc["progress"] if p["label"] == "denoise"), 0)

        wait_status(http, job_id, lambda doc: denoised(doc) >= 40, timeout=120)
        busy = _cpu_rate(pid, 0.5)
        assert http.post(f"/jobs/{job_id}/cancel").status_code == 200
        status = wait_status(http, job_id, {"CANCELED"}, timeout=10)

        def acknowledged() -> bool:
            tasks = http.get(f"/jobs/{job_id}").json()["tasks"]
            images = [t for t in tasks if t["identifier"] == "GenerateImage"]
            return all(t["state"] == "CANCELED" for t in images)

        deadline = time.monotonic() + 10
        while not acknowledged():
            assert time.monotonic() < deadline, "the worker never stopped the image tasks"
            time.sleep(0.05)
        idle = _cpu_rate(pid, 1.0)
        assert denoised(status) < 8 * 500
    print(f"worker CPU: {busy:.2f} s/s while denoising, {idle:.2f} s/s after cancel")
    assert idle < 0.3 and busy > 3 * idle, (busy, idle)


def test_the_api_process_never_loads_torch(system: System) -> None:
    """Validation and submission read model specs only; the worker alone loads torch."""
    assert system.server.popen is not None and system.worker.popen is not None
    server_maps = Path(f"/proc/{system.server.popen.pid}/maps")
    if not server_maps.exists():
        pytest.skip("needs /proc")
    with system.http() as http:
        http.post("/generate", json={"prompt": "7", "model": "sd-tiny"})
        http.post("/generate", json={"prompt": "no digit"})
    assert "libtorch" not in server_maps.read_text()
    assert "libtorch" in Path(f"/proc/{system.worker.popen.pid}/maps").read_text()


def test_previews_of_other_tenants_or_unknown_steps_are_404(system: System) -> None:
    with system.http() as http:
        job_id = _submit(http, {"prompt": "1", "num_inference_steps": 2})["id"]
        wait_status(http, job_id, {"COMPLETED"})
        assert http.get(f"/jobs/{job_id}/previews/0/1.png").status_code == 404
        missing = "00000000-0000-4000-8000-000000000000"
        assert http.get(f"/jobs/{missing}/previews/0/1.png").status_code == 404


def test_the_worker_loads_each_model_once(system: System) -> None:
    """After every job of this module, each model was loaded once and then kept warm."""
    with system.http() as http:
        for prompt in ("5", "6"):
            job_id = _submit(http, {"prompt": prompt, "num_inference_steps": 2})["id"]
            wait_status(http, job_id, {"COMPLETED"})
    loads = [line for line in system.worker.output().splitlines() if "loaded model" in line]
    names = [line.split("loaded model ")[1].split()[0] for line in loads]
    assert "digits" in names and len(names) == len(set(names)), names
