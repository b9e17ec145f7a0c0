"""``conveyor demo`` on a fresh directory: server, worker, the digits 0-9, a contact sheet."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"


def test_demo_draws_the_ten_digits_into_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    sheets = list(tmp_path.glob("contact_sheet_*.png"))
    assert len(sheets) == 1, run.stdout
    sheet = Image.open(io.BytesIO(sheets[0].read_bytes()))
    assert sheet.format == "PNG"
    assert sheet.size == (10 * 64 + 11 * 2, 64 + 2 * 2)  # the ten digits in one row
    out = " ".join(run.stdout.split())  # rich may wrap long lines
    assert str(sheets[0]) in out.replace(" ", "") or sheets[0].name in out
    assert "/jobs/" in out and "denoise" in out
    # the embedded default, in the current directory
    assert (tmp_path / "conveyor.db").is_file() and (tmp_path / "conveyor-data").is_dir()
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"


def test_demo_keeps_the_countdown_example(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "demo", "--example", "countdown"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "COMPLETED" in run.stdout and "summary.json" in run.stdout
