"""The API side of generation (validation, submission, previews) never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

_CODE = """
import sys
import conveyor, conveyor.cli, conveyor.api.routers.generate
import conveyor.diffusion.tasks, conveyor.diffusion.validation
from fastapi.testclient import TestClient
from conveyor.api.app import create_app
from conveyor.settings import Settings

settings = Settings(database_url=sys.argv[1], blobs_url=sys.argv[2], notifier=False)
with TestClient(create_app(settings)) as http:
    ok = http.post("/generate", json={"prompts": ["1", "2"], "num_inference_steps": 3})
    assert ok.status_code == 202, ok.text
    bad = http.post("/generate", json={"prompt": "no digit here"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "prompt"]
    tasks = {t["identifier"] for t in http.get("/tasks").json()}
    assert {"Generate", "GenerateImage", "ContactSheet"} <= tasks, tasks
heavy = sorted({"torch", "diffusers", "transformers", "PIL"} & set(sys.modules))
assert not heavy, heavy
"""


def test_generate_api_is_torch_free(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _CODE,
            f"sqlite:///{tmp_path / 'c.db'}",
            (tmp_path / "blobs").as_uri(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
