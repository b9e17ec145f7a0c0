"""The ``conveyor`` command keeps torch's OpenMP threads spinning through a worker's short
gaps between model calls (``conveyor._torch_threads``): set before torch loads, a value
the user set stands, and libgomp then really does keep its threads on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys

from conveyor._torch_threads import SPIN_COUNT, SPIN_ENV_VAR


def _python(code: str, **env: str) -> list[str]:
    """Run ``code`` in a fresh interpreter without GOMP_SPINCOUNT (plus ``env``); its
    output lines."""
    clean = {k: v for k, v in os.environ.items() if k != SPIN_ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


_RUN_CLI = (
    "import os, sys\n"
    "from conveyor.cli import main\n"
    "sys.argv = ['conveyor', 'jobs', '--help']\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)\n"
)


def test_the_conveyor_command_sets_the_spin_before_torch_loads() -> None:
    assert _python(_RUN_CLI)[-1] == f"{SPIN_COUNT} False"


def test_a_spin_count_the_user_set_stands() -> None:
    assert _python(_RUN_CLI, GOMP_SPINCOUNT="1234")[-1] == "1234 False"


def test_once_torch_is_loaded_it_is_too_late_and_nothing_is_set() -> None:
    code = (
        "import os, torch\n"
        "from conveyor.diffusion import keep_torch_threads_warm\n"
        "print(keep_torch_threads_warm(), os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    assert _python(code) == ["False None"]


_IDLE_CPU = (
    "import os, time\n"
    "from conveyor.diffusion import keep_torch_threads_warm\n"
    "keep_torch_threads_warm()\n"
    "import torch\n"
    "torch.set_num_threads(2)\n"
    "a = torch.randn(512, 512)\n"
    "for _ in range(5):\n"
    "    a @ a\n"
    "cpu = time.process_time()\n"
    "time.sleep(0.3)\n"
    "print(time.process_time() - cpu)\n"
)


def test_torch_threads_spin_through_a_gap_instead_of_sleeping() -> None:
    """CPU time burnt during a 0.3 s sleep right after a parallel matmul: with the spin set,
    a helper thread keeps spinning (about 0.16 s here); with libgomp's default it sleeps
    after about 6 ms. Wide margins: this tells spinning from sleeping, not how fast."""
    warm = float(_python(_IDLE_CPU)[-1])
    default = float(_python(_IDLE_CPU, GOMP_SPINCOUNT="300000")[-1])
    assert warm > 0.08, (warm, default)
    assert default < 0.05, (warm, default)
