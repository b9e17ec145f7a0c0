"""Image generation throughput: the model called directly vs through the queue, one at a time
vs batched. The same as ``conveyor bench`` (which an installed worker has without this
repository); this file runs it with its arguments.

For each ``--batch`` size (default 1 and 8), direct chunks (``ImageModel.generate`` in a
loop: no queue, no store, no PNGs) alternate with queue chunks (the same number of images as
generation jobs of ``--per-job`` images, each what ``POST /generate`` creates: a root, its
image tasks and a contact sheet, drained by a runner on a fresh SQLite database) for
``--seconds`` and at least ``--pairs`` pairs. It prints both rates, the queue's overhead
``1 - queue / direct`` with a 95 % confidence interval of its median, the share of the
queue's wall time spent outside the model and writing blobs, how much slower the model ran
inside the queue's chunks, and the batching speed-up. See
:mod:`conveyor.diffusion.queue_bench` for why pairs and medians. Targets: overhead <= 5 %,
speed-up >= 2x at batch 8 on CPU. Figures only; nothing is asserted.

    python bench/diffusion.py [--batch 1 --batch 8] [--images 16] [--seconds 120]
                              [--pairs 15] [--steps 20] [--per-job 1] [--model digits]
                              [--device cuda] [--data-dir /dev/shm]
"""

from __future__ import annotations

import sys

from conveyor.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench"]
    main()
