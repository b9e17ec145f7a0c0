"""``conveyor bench`` (and ``bench/diffusion.py``, which runs it): the queue against the model
called directly, and the confidence interval its overhead comes with."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.diffusion import ModelRegistry
from conveyor.diffusion.queue_bench import compare, median_interval

ROOT = Path(__file__).resolve().parents[2]


def conveyor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _coverage(n: int, k: int) -> float:
    """The chance that [x_(k), x_(n+1-k)] of n draws holds the median (k >= 1)."""
    tail = sum(math.comb(n, i) for i in range(k)) / 2**n
    return 1 - 2 * tail


@given(st.integers(min_value=1, max_value=300))
def test_median_interval_is_the_narrowest_that_covers_95_percent(n: int) -> None:
    values = [float(i) for i in range(1, n + 1)]  # x_(i) == i
    low, high = median_interval(list(reversed(values)))
    k = int(low)
    assert high == n + 1 - k  # symmetric in rank
    if k > 1 or _coverage(n, 1) >= 0.95:
        assert _coverage(n, k) >= 0.95
    if k < n // 2:
        assert _coverage(n, k + 1) < 0.95  # one rank narrower would not cover enough


def test_median_interval_known_values() -> None:
    assert median_interval([float(i) for i in range(1, 16)]) == (4.0, 12.0)
    assert median_interval([float(i) for i in range(1, 61)]) == (22.0, 39.0)
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few: the whole range
    with pytest.raises(ValueError):
        median_interval([])


def test_compare_drains_real_jobs_and_cleans_up(tmp_path: Path) -> None:
    figures = compare(
        2, registry=ModelRegistry(), steps=2, images=4, per_job=2, seconds=0, pairs=3,
        data_dir=str(tmp_path),
    )  # fmt: skip
    assert figures.batch == 2 and figures.pairs == 3
    assert figures.direct > 0 and figures.queue > 0
    assert figures.overhead_low <= figures.overhead <= figures.overhead_high
    assert 0 < figures.outside_model < 1 and 0 < figures.blob_writes < figures.outside_model
    assert list(tmp_path.iterdir()) == []  # the queue's database and blobs are gone
    with pytest.raises(ValueError, match="multiple"):
        compare(1, registry=ModelRegistry(), images=3, per_job=2)


def test_bench_command_prints_a_row_per_batch_size_and_the_speed_up(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    run = conveyor(
        "bench", "--batch", "2", "--batch", "1", "--images", "2", "--steps", "2",
        "--seconds", "0", "--pairs", "2", "--data-dir", str(tmp_path),
        env=subprocess_env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [row[0] for row in rows] == ["1", "2"]
    for row in rows:
        direct, queue = float(row[1]), float(row[2])
        assert direct > 0 and queue > 0
        assert row[5] == "2"  # pairs
    assert "batching speed-up at batch 2 over 1" in " ".join(run.stdout.split())
    assert list(tmp_path.iterdir()) == []


def test_bench_script_runs_the_command(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "diffusion.py"), "--batch", "1", "--images",
         "1", "--steps", "1", "--seconds", "0", "--pairs", "1", "--data-dir", str(tmp_path)],
        env=subprocess_env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "direct" in run.stdout and "overhead" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "nope"), "unknown model 'nope'"),
        (("--images", "3", "--per-job", "2"), "--images (3) must be a multiple of --per-job"),
        (("--images", "4", "--batch", "8"), "at least the largest --batch"),
        (("--device", "quantum"), "'quantum' (CONVEYOR_DEVICE) is not a torch device"),
        (("--models", "{bad"), "CONVEYOR_MODELS is not valid JSON"),
        (("--batch", "0"), "--batch"),
    ],
)
def test_bench_bad_input_is_one_error_line(
    args: tuple[str, ...], message: str, subprocess_env: dict[str, str]
) -> None:
    run = conveyor("bench", "--seconds", "0", "--pairs", "1", "--steps", "1", *args,
                   env=subprocess_env)  # fmt: skip
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert "Traceback" not in output
    assert message in output


def test_gpu_check_rehearses_on_the_cpu(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """``bench/gpu_check.sh`` (what a lent GPU machine runs) with ``--device cpu``: both models
    through the embedded system give the same bytes twice, and both benchmarks write a table."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"  # the script calls python3: make it this interpreter
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    out = tmp_path / "out"
    env = {**subprocess_env, "PATH": f"{bin_dir}:{subprocess_env['PATH']}"}
    run = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--device", "cpu", "--seconds", "0",
         "--pairs", "1", "--steps", "1", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    checks = (out / "checks.txt").read_text()
    for model in ("digits", "tiny-sd"):
        assert f"{model}: on cpu in torch.float32;" in checks
    assert checks.count("same seed, same bytes: yes") == 2
    for name, sizes in (("bench_digits", (1, 8, 32)), ("bench_tiny_sd", (1, 8))):
        rows = [line.split() for line in (out / f"{name}.txt").read_text().splitlines()]
        assert [int(r[0]) for r in rows if r and r[0].isdigit() and len(r) == 9] == list(sizes)
