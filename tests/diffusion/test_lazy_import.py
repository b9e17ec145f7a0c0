"""The API process imports conveyor.diffusion to validate requests and must not pay for torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import conveyor.diffusion


def test_import_does_not_load_torch() -> None:
    src = str(Path(conveyor.diffusion.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import conveyor.diffusion, sys\n"
        "from conveyor.diffusion import GenerationParams, ModelRegistry\n"
        "ModelRegistry().resolve(GenerationParams('a seven'))\n"
        "assert 'torch' not in sys.modules\n"
        "heavy = {'diffusers', 'transformers', 'safetensors', 'PIL'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
