"""The diffusion settings as flags: ``--models`` on ``serve``, ``--models``, ``--device``,
``--max-batch-size`` and ``--batch-wait-seconds`` on ``worker``, each the same as its
``CONVEYOR_<NAME>`` variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conveyor.diffusion.spec import BUNDLED_MODELS_DIR
from plugins.api import Processes, wait_status

pytestmark = pytest.mark.slow

MODELS = json.dumps({"mine": str(BUNDLED_MODELS_DIR / "digits")})


def test_models_and_batch_size_flags_reach_the_api_and_the_worker(
    processes: Processes, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    server = processes.server(db_url, "--no-notifier", "--models", MODELS)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        body = {"prompt": "a three", "model": "mine", "num_images": 5, "num_inference_steps": 3}
        accepted = http.post("/generate", json=body)
        assert accepted.status_code == 202, accepted.text
        unknown = http.post("/generate", json={**body, "model": "other"})
        assert unknown.status_code == 422
        assert "mine" in unknown.text  # the error lists the configured model

        env = {k: v for k, v in subprocess_env.items() if not k.startswith("CONVEYOR_")}
        worker = subprocess.run(
            [sys.executable, "-m", "conveyor.cli", "worker", "conveyor.diffusion.tasks",
             "--drain", "--database-url", db_url, "--models", MODELS, "--device", "cpu",
             "--max-batch-size", "2", "--batch-wait-seconds", "0.01"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stdout + worker.stderr
        status = wait_status(http, accepted.json()["id"], {"COMPLETED", "FAILED"})
    assert status["status"] == "COMPLETED", status
    meta = status["result"]["inline"]["generation.json"]
    assert meta["model"] == "mine"
    assert sorted(image["batch"]["size"] for image in meta["images"]) == [1, 2, 2, 2, 2]


def test_bad_flag_values_are_one_error_line(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    for args, message in [
        (("worker", "conveyor.diffusion.tasks", "--models", "{bad"), "CONVEYOR_MODELS"),
        (("worker", "conveyor.diffusion.tasks", "--max-batch-size", "0"), "--max-batch-size"),
        (("dev", "--batch-wait-seconds", "-1"), "--batch-wait-seconds"),
        (("serve", "--models", '{"a": 3}'), "CONVEYOR_MODELS must be a JSON object"),
    ]:
        run = subprocess.run(
            [sys.executable, "-m", "conveyor.cli", *args, "--database-url", db_url],
            env=subprocess_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        output = " ".join((run.stdout + run.stderr).split())
        assert run.returncode != 0, args
        assert "Traceback" not in output, output
        assert message in output, output
