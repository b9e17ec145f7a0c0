"""Builders and small drivers shared by the conformance tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

from conveyor.models import ErrorInfo, Job
from conveyor.store import ClaimedTask, NewJob, NewTask, ProgressValue, Store

KIND_ID, KIND_VERSION = "work", "v1"
KIND = f"{KIND_ID}@{KIND_VERSION}"


def task(
    identifier: str = KIND_ID,
    *,
    version: str = KIND_VERSION,
    data: Any = None,
    max_retries: int = 0,
    optional: bool = False,
    depends_on: Sequence[int] = (),
    batch_key: str | None = None,
) -> NewTask:
    return NewTask(
        id=uuid.uuid4(),
        identifier=identifier,
        version=version,
        input_json=json.dumps(data if data is not None else {}),
        max_retries=max_retries,
        optional=optional,
        depends_on=tuple(depends_on),
        batch_key=batch_key,
    )


def submit(store: Store, name: str = "job", root: NewTask | None = None, **kwargs: Any) -> Job:
    return store.create_job(NewJob(id=uuid.uuid4(), name=name, root=root or task(), **kwargs))


def claim_one(store: Store, kinds: Sequence[str] = (KIND,), **kwargs: Any) -> ClaimedTask:
    claimed = store.claim("w", list(kinds), **kwargs)
    assert len(claimed) == 1, claimed
    return claimed[0]


def error(message: str = "boom") -> ErrorInfo:
    return ErrorInfo("RuntimeError", message)


def pv(label: str | None, total: int, done: int) -> ProgressValue:
    return ProgressValue(label, total, done)


def run_all(store: Store, kinds: Sequence[str] = (KIND,), timeout: float = 30.0) -> int:
    """Claim and complete every runnable task (no subtasks); return how many ran."""
    ran = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claimed = store.claim("w", list(kinds), limit=10)
        if not claimed:
            return ran
        for ct in claimed:
            store.complete_task(ct.id, ct.attempt)
            ran += 1
    raise TimeoutError("tasks kept coming")


def event_types(store: Store, job_id: uuid.UUID) -> list[tuple[str, Any]]:
    return [
        (e.type, e.data.get("state") if e.type == "state" else None)
        for e in store.events_after(job_id)
    ]


def count_rows(store: Store, table: str, where: str = "") -> int:
    """Rows in a table, read past the Store API (to check what cleanup left behind)."""
    sql = f"SELECT COUNT(*) AS n FROM {table} {where}"
    db = cast(Any, store).db  # the engine's connector: not part of the Store protocol
    if db.dialect == "sqlite":
        return int(db._connect().execute(sql).fetchone()[0])
    with db.pool.connection() as conn:
        return int(conn.execute(sql).fetchone()["n"])
