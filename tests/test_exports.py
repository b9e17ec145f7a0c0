"""The public API is pinned, and importing it stays light (no torch)."""

from __future__ import annotations

import subprocess
import sys

import conveyor

EXPECTED = {
    "Client",
    "ExecutionContext",
    "JobState",
    "TaskState",
    "ProgressIndicator",
    "Task",
    "Job",
    "JobCache",
    "JobClient",
    "Runner",
    "TaskHandle",
    "TaskInfo",
    "ErrorInfo",
    "ConveyorError",
    "JobNotFoundError",
    "LeaseLostError",
    "SerializationError",
    "TaskCancelledError",
}


def test_public_names_are_exported() -> None:
    assert set(conveyor.__all__) >= EXPECTED
    for name in conveyor.__all__:
        assert hasattr(conveyor, name), name


def test_import_conveyor_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, conveyor, conveyor.cli, conveyor.examples; "
        "heavy = [m for m in ('torch', 'diffusers', 'psycopg', 'boto3') if m in sys.modules]; "
        "print(heavy); sys.exit(bool(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
