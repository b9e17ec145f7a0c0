"""Ids are version 7 UUIDs: time-ordered, so new rows land on the last pages of each index."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

import conveyor.ids
from conveyor.ids import new_id, parse_id
from conveyor.remote import RemoteClient
from conveyor.workflows import Client, ExecutionContext, Task


def _millis(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_is_a_version_7_uuid_of_now() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= _millis(value) <= after
    assert uuid.UUID(str(value)) == value


def test_ids_increase_within_one_millisecond_and_keep_62_random_bits() -> None:
    values = [new_id() for _ in range(10_000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert len({v.int & ((1 << 62) - 1) for v in values}) == len(values)


def test_ids_still_increase_when_the_clock_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    monkeypatch.setattr(conveyor.ids.time, "time_ns", lambda: 1_000_000_000_000_000)  # 2001
    later = [new_id() for _ in range(3)]
    assert first < later[0] < later[1] < later[2]
    assert all(v.version == 7 for v in later)


class Leaf(Task):
    n: int

    def execute(self, context: ExecutionContext) -> None:
        context.progress("leaves").add(1)


class Fan(Task):
    count: int

    def execute(self, context: ExecutionContext) -> None:
        for n in range(self.count):
            context.submit_subtask(Leaf(n=n))


def test_jobs_and_tasks_get_ids_in_the_order_they_were_made(tmp_path: Path) -> None:
    with Client(f"sqlite:///{tmp_path / 'ids.db'}") as client:
        jobs = [client.jobs().submit("fan", Fan(count=3)) for _ in range(5)]
        client.runner(tasks=[Fan, Leaf]).run_all()
        assert [j.id for j in jobs] == sorted(j.id for j in jobs)
        assert all(j.id.version == 7 for j in jobs)
        for job in jobs:
            tasks = client.jobs().tasks(job.id)
            assert all(t.id.version == 7 for t in tasks)
            root = next(t for t in tasks if t.parent_id is None)
            leaves = [t.id for t in tasks if t.parent_id == root.id]
            assert len(leaves) == 3 and all(root.id < leaf for leaf in leaves)


def test_a_value_that_is_not_an_id_is_quoted_in_the_error(tmp_path: Path) -> None:
    value = new_id()
    assert parse_id(value) is value and parse_id(str(value)) == value
    assert parse_id(str(value).upper()) == value
    for bad in ("nope", "12", "", None, 3):
        with pytest.raises(ValueError, match=rf"^{re.escape(repr(bad))} is not a job id"):
            parse_id(bad)
    with (
        Client(f"sqlite:///{tmp_path / 'ids.db'}") as client,
        pytest.raises(ValueError, match="'not-a-uuid' is not a job id"),
    ):
        client.jobs().find("not-a-uuid")
    remote = RemoteClient("http://127.0.0.1:9")  # the id is read before any request
    with pytest.raises(ValueError, match="'x y' is not a job id"):
        remote.jobs().cancel("x y")
