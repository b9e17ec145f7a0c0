"""A claiming loop run in separate processes by test_claims (importable when spawned)."""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier


def claim_until_empty(
    url: str, kind: str, start: Barrier, limit: int, out: Queue[list[str]]
) -> None:
    """Claim and complete tasks until none is left; put the claimed task ids on ``out``."""
    out.put(_claim(url, kind, start, limit))


def _claim(url: str, kind: str, start: Barrier, limit: int) -> list[str]:
    from conveyor.store import open_store

    store = open_store(url)
    claimed: list[str] = []
    try:
        start.wait(60)  # every process has its store open: claim together
        idle_since = None
        while True:
            batch = store.claim(f"proc-{limit}", [kind], limit=limit)
            if not batch:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 0.5:
                    return claimed
                time.sleep(0.01)
                continue
            idle_since = None
            for ct in batch:
                claimed.append(str(ct.id))
                store.complete_task(ct.id, ct.attempt)
    finally:
        store.close()
