"""Local blob writes: a result written as a new file vs shared with a job cache entry.

A result with the bytes of a job cache entry (an image task saves its PNG both ways; a
one-image job's contact sheet is its image) is stored with ``put(..., same_as=entry)``,
which a local store turns into a hard link after reading the entry back to check it. This
times that ``put`` against an ordinary one, for a small PNG (the digits model's) and a
Stable Diffusion-sized one, each in a job's existing ``results/`` folder as a runner writes
them. Rounds alternate between the two ways so the machine's drift hits both alike; prints
the median and quartiles per put. Figures only; nothing is asserted.

    python bench/blob_links.py [--rounds 40] [--puts 100] [--sizes 1200,400000] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

from conveyor.blobs.local import LocalBlobStore


def timed_puts(blobs: LocalBlobStore, data: bytes, puts: int, *, shared: bool) -> float:
    """Seconds per result ``put`` over ``puts`` fresh jobs."""
    total = 0.0
    for _ in range(puts):
        job = uuid.uuid4()
        source = f"jobs/{job}/cache/image-0.png"
        blobs.put(source, data)
        blobs.put(f"jobs/{job}/results/generation.json", b"{}")  # the folder exists
        started = time.perf_counter()
        blobs.put(f"jobs/{job}/results/image_0.png", data, same_as=source if shared else None)
        total += time.perf_counter() - started
    return total / puts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--puts", type=int, default=100, help="puts of each way per round")
    parser.add_argument("--sizes", default="1200,400000", help="blob sizes in bytes")
    parser.add_argument("--dir", default=None, help="where the store goes (default: temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        blobs = LocalBlobStore(root)
        print(f"blob store in {root}; {args.rounds} rounds of {args.puts} puts each way")
        for size in (int(s) for s in args.sizes.split(",")):
            data = os.urandom(size)
            times: dict[str, list[float]] = {"written": [], "linked": []}
            for index in range(args.rounds):
                ways = ("written", "linked") if index % 2 == 0 else ("linked", "written")
                for way in ways:
                    times[way].append(timed_puts(blobs, data, args.puts, shared=way == "linked"))
            for way, values in times.items():
                low, mid, high = statistics.quantiles([v * 1e6 for v in values], n=4)
                print(
                    f"{size:>9} bytes {way}: {mid:7.1f} us per put "
                    f"(quartiles {low:.1f} .. {high:.1f})"
                )


if __name__ == "__main__":
    main()
