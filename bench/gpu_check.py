"""The diffusion workload's GPU check, in one run: what issue 5 asks of a lent GPU machine.

Run by ``bench/gpu_check.sh`` there (it installs the wheels the machine lacks first); runs
anywhere with ``--device cpu`` as a rehearsal. It prints, and writes to ``--out``:

1. the device: torch, CUDA, the card;
2. a correctness check through the whole embedded system (SQLite, runner, blob store) for the
   bundled digits model and a tiny Stable Diffusion pipeline built on the spot: each model's
   device and dtype (fp16 for pipelines on CUDA), and two identical jobs giving the same
   image bytes (same seed, same device);
3. ``conveyor bench`` for the digits model at batch 1, 8 and 32, and for the tiny pipeline at
   batch 1 and 8, each into its own file.

Figures only; it fails (exit 1) only when a check of step 2 fails or a benchmark crashes.

    python bench/gpu_check.py [--device cuda] [--seconds 30] [--pairs 10] [--steps 20]
                              [--out DIR] [--skip-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conveyor.diffusion import GenerationParams, ModelRegistry
from conveyor.diffusion.runtime import use_registry
from conveyor.diffusion.tasks import DIFFUSION_TASKS, Generate
from conveyor.diffusion.testing import build_tiny_sd_pipeline
from conveyor.models import JobState
from conveyor.workflows import Client


def device_report(device: str) -> str:
    import torch

    lines = [f"python {sys.version.split()[0]}, torch {torch.__version__}, device {device}"]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.append(
            f"cuda {torch.version.cuda}: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
            f"{props.multi_processor_count} SMs"
        )
    else:
        lines.append("cuda: not available")
    return "\n".join(lines)


def same_bytes_check(registry: ModelRegistry, model: str, prompt: str, steps: int) -> str:
    """Two identical two-image jobs through a runner: same bytes, or raise."""
    engine = registry.get(model)
    dtype = next(_parameters(engine)).dtype
    params = GenerationParams(
        prompt, model=model, num_inference_steps=steps, seed=1234, num_images=2
    )
    images: list[list[bytes]] = []
    with (
        use_registry(registry),
        tempfile.TemporaryDirectory() as tmp,
        Client(f"sqlite:///{tmp}/check.db") as client,
    ):
        jobs = client.jobs()
        ids = [jobs.submit("generate", Generate(params)).id for _ in range(2)]
        started = time.perf_counter()
        client.runner(tasks=DIFFUSION_TASKS).run_all()
        seconds = time.perf_counter() - started
        for job_id in ids:
            job = jobs.find(job_id)
            if job.state is not JobState.COMPLETED:
                raise RuntimeError(f"{model}: job {job_id} ended {job.state.value}: {job.error}")
            results = {r.name: r for r in job.results}
            images.append([client.blobs.get(results[f"image_{i}.png"].blob_key) for i in (0, 1)])
    if images[0] != images[1]:
        raise RuntimeError(f"{model}: the same seed gave different image bytes on {engine.device}")
    return (
        f"{model}: on {engine.device} in {dtype}; 2 jobs x 2 images in {seconds:.2f} s "
        f"(the first batch warms up); same seed, same bytes: yes ({len(images[0][0])} bytes)"
    )


def _parameters(engine: Any) -> Iterator[Any]:  # a digits model's or a pipeline's UNet
    unet = getattr(engine, "unet", None) or engine.pipeline.unet
    return unet.parameters()


def run_bench(args: list[str], out: Path, name: str) -> None:
    command = [sys.executable, "-m", "conveyor.cli", "bench", *args]
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    text = done.stdout + done.stderr
    (out / f"{name}.txt").write_text(text)
    print(text, flush=True)
    if done.returncode:
        raise RuntimeError(f"{name}: conveyor bench exited {done.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu ...")
    parser.add_argument("--seconds", type=float, default=30, help="per batch size and model")
    parser.add_argument("--pairs", type=int, default=10, help="at least this many per size")
    parser.add_argument("--steps", type=int, default=20, help="digits steps (tiny-sd: half)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu-check")
    parser.add_argument("--skip-bench", action="store_true", help="the checks only")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CONVEYOR_DEVICE"] = args.device
    report = [device_report(args.device)]
    print(report[0], flush=True)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        configured = {"tiny-sd": str(build_tiny_sd_pipeline(Path(tmp) / "tiny-sd"))}
        models = json.dumps(configured)
        registry = ModelRegistry(configured, device=args.device)
        sd_steps = max(1, args.steps // 2)
        for model, prompt, steps in (
            ("digits", "a seven", args.steps),
            ("tiny-sd", "a red fox", sd_steps),
        ):
            try:
                line = same_bytes_check(registry, model, prompt, steps)
            except Exception as exc:  # report every check, then fail
                line, failed = f"{model}: FAILED: {exc!r}", True
            report.append(line)
            print(line, flush=True)
        (out / "checks.txt").write_text("\n".join(report) + "\n")
        if args.skip_bench:
            return int(failed)
        common = ["--device", args.device, "--seconds", str(args.seconds)]
        common += ["--pairs", str(args.pairs)]
        runs = {
            "bench_digits": [
                *("--steps", str(args.steps), "--images", "32"),
                *("--batch", "1", "--batch", "8", "--batch", "32"),
            ],
            "bench_tiny_sd": [
                *("--models", models, "--model", "tiny-sd", "--prompt", "a red fox"),
                *("--steps", str(sd_steps), "--batch", "1", "--batch", "8"),
            ],
        }
        for name, extra in runs.items():
            try:
                run_bench([*extra, *common], out, name)
            except Exception as exc:
                print(f"{name}: FAILED: {exc!r}", flush=True)
                failed = True
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
