"""SQLite write contention: how long a short write transaction waits behind other writers.

A runner's threads (the claiming loop, the keeper's progress flushes, the finisher's
commits) and an API server's request threads all write to one SQLite file, often while
worker processes do too. This measures the latency of a short write transaction on a
:class:`~conveyor.store.sqlite.SQLiteConnector` while a competitor keeps taking the write
lock for ``--hold`` ms at a time (with ``--gap`` ms between): first a thread of the same
process, then another process. Prints p50 / p90 / p99 of the measured transactions.

    python bench/sqlite_writers.py [--samples 300] [--hold 1.0] [--gap 0.5] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from typing import Any

from conveyor.store.sqlite import SQLiteConnector

_TABLE = "CREATE TABLE IF NOT EXISTS bench_writes (x INTEGER)"


def _hog(url: str, stop: Any, hold: float, gap: float) -> None:
    """Take the write lock for ``hold`` seconds, release it for ``gap``, until ``stop``."""
    db = SQLiteConnector(url)
    while not stop.is_set():
        with db.transaction() as tx:
            tx.conn.execute("INSERT INTO bench_writes VALUES (1)")
            time.sleep(hold)
        time.sleep(gap)


def _measure(db: SQLiteConnector, samples: int) -> list[float]:
    waits = []
    for _ in range(samples):
        started = time.perf_counter()
        with db.transaction() as tx:
            tx.conn.execute("INSERT INTO bench_writes VALUES (2)")
        waits.append(time.perf_counter() - started)
        time.sleep(0.0007)  # land at varying points of the competitor's cycle
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--hold", type=float, default=1.0, help="ms the competitor holds the lock")
    parser.add_argument("--gap", type=float, default=0.5, help="ms between its transactions")
    parser.add_argument("--dir", default=None, help="where the database goes (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        url = f"sqlite:///{tmp}/writers.db"
        db = SQLiteConnector(url)
        with db.transaction() as tx:
            tx.conn.execute(_TABLE)
        print(
            f"{args.samples} short write transactions while a competitor holds the write lock "
            f"{args.hold} ms at a time, {args.gap} ms apart"
        )
        for label, spawn in (
            ("thread of this process", threading.Thread),
            ("another process", multiprocessing.get_context("spawn").Process),
        ):
            stop: Any = (
                threading.Event()
                if spawn is threading.Thread
                else multiprocessing.get_context("spawn").Event()
            )
            competitor = spawn(target=_hog, args=(url, stop, args.hold / 1000, args.gap / 1000))
            competitor.start()
            time.sleep(0.5)  # the competitor is up (a spawned process imports first)
            try:
                waits = sorted(_measure(db, args.samples))
            finally:
                stop.set()
                competitor.join()
            p50 = statistics.median(waits)
            p90, p99 = (waits[min(len(waits) - 1, int(len(waits) * q))] for q in (0.9, 0.99))
            print(
                f"  competitor: {label:<24} p50 {p50 * 1e3:6.2f} ms   p90 {p90 * 1e3:6.2f} ms   "
                f"p99 {p99 * 1e3:6.2f} ms"
            )


if __name__ == "__main__":
    main()
