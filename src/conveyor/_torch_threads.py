"""Keep torch's CPU threads awake through the queue's short gaps between model calls.

torch's CPU wheels run their parallel regions on GNU OpenMP (libgomp). Between two regions a
thread spins for ``GOMP_SPINCOUNT`` pause instructions (300,000 by default: about 6 ms on the
Xeon this was measured on, 21 ns a pause), then sleeps. A worker runs its own code between
two model calls: claims, commits, PNGs, blob writes, 15-35 ms for a batch of 8 digits jobs.
That is longer than the default spin, so the helper threads fall asleep in every gap and
their virtual CPUs go idle (queue chunks kept 1.964 of 2 CPUs busy, direct ones 1.994, on
our 2-core VM), and the model then ran slower than when called back to back: by 2.1-4.0 %
(mean 3.3 %) in five ``conveyor bench --batch 8 --seconds 150`` runs, against 0.1-2.4 %
(mean 1.1 %) in five runs interleaved with them with the threads spinning through the gaps
(see ``docs/diffusion-overhead.md``).

So processes that run models (the ``conveyor`` command) set a longer spin before torch is
loaded, unless ``GOMP_SPINCOUNT`` is set already: libgomp reads it once, when it is loaded.
The price is that an idle worker's torch threads spin for a fraction of a second after its
last model call before they sleep. GPU workers hardly run CPU parallel regions, so the
setting costs them nothing.

A module of its own, outside ``conveyor.diffusion``: the ``conveyor`` command calls it on every
start, and importing that package would add its request and registry modules (about 12 ms)
to commands that never run a model. ``conveyor.diffusion`` re-exports the function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

__all__ = ["SPIN_COUNT", "SPIN_ENV_VAR", "keep_torch_threads_warm"]

SPIN_ENV_VAR = "GOMP_SPINCOUNT"
#: Pause instructions an idle OpenMP thread spins before it sleeps: about 0.2 s at 21 ns a
#: pause (up to about 0.7 s on CPUs with a slower pause), well past a worker's gaps.
SPIN_COUNT = 10_000_000


def keep_torch_threads_warm(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` in ``environ`` (default: this process's),
    unless it is set already or torch is loaded (too late: libgomp has read it). Returns
    whether it set it. Call it before anything imports torch; child processes inherit it.
    """
    env = os.environ if environ is None else environ
    if SPIN_ENV_VAR in env or "torch" in sys.modules:
        return False
    env[SPIN_ENV_VAR] = str(SPIN_COUNT)
    return True
