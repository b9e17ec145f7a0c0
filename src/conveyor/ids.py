"""Time-ordered identifiers for the rows the store keys by id: jobs, tasks, webhook messages.

Random (version 4) UUIDs scatter inserts over every leaf page of each index keyed by them
(the jobs' and tasks' ids, and the ``job_id`` columns of progress, results, events, the job
cache and the outbox): a commit then dirties one page per index for each job it touches,
and SQLite's WAL or PostgreSQL's full-page writes carry every such page. Version 7 UUIDs
(RFC 9562) start with the time in milliseconds, so a commit's new keys land on the same few
rightmost pages. They still carry 62 random bits, so an id is not guessed from its
neighbours; what they give away is their creation time, which a job's status shows anyway.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_id", "parse_id"]

_lock = threading.Lock()
_last = 0  # the last id's 60-bit clock (milliseconds << 12 | sub-millisecond fraction)


def new_id() -> uuid.UUID:
    """A version 7 UUID; each is greater than the ones this process made before it.

    The 12 bits after the millisecond timestamp hold the fraction of the millisecond
    (RFC 9562, method 3), bumped by one when the clock has not moved on (or went back), so
    ids sort in creation order within a process and across processes to the millisecond.
    """
    global _last
    now = time.time_ns()
    clock = (now // 1_000_000) << 12 | (now % 1_000_000) * 4096 // 1_000_000
    with _lock:
        clock = max(clock, _last + 1)
        _last = clock
    random = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (clock >> 12) << 80 | 0x7 << 76 | (clock & 0xFFF) << 64 | 0b10 << 62 | random
    return uuid.UUID(int=value)


def parse_id(value: object) -> uuid.UUID:
    """``value`` (a UUID or its text) as a UUID; a ValueError that quotes it otherwise.

    Ids arrive typed by people (``conveyor watch <id>``, a URL pasted into a script); the
    message says which value was not an id, where ``uuid.UUID`` only says "badly formed
    hexadecimal UUID string".
    """
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a job id (ids are UUIDs, e.g. {uuid.UUID(int=0)})"
        ) from None
