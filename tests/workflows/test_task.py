"""Task definition and input serialization through the public API."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from conveyor import Client, ExecutionContext, SerializationError, Task, TaskState

SEEN: list[Task] = []


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int


class Everything(Task):
    name: str
    count: int
    ratio: float
    flag: bool
    tags: list[str]
    weights: dict[str, float]
    color: Color
    when: datetime
    ident: UUID
    blob: bytes
    point: Point
    maybe: int | None = None

    def execute(self, context: ExecutionContext) -> None:
        SEEN.append(self)


class Renamed(Task):
    @staticmethod
    def identifier() -> tuple[str, str]:
        return "example.com/renamed", "v2"

    def execute(self, context: ExecutionContext) -> None:
        context.progress().add(1)
        context.progress().done(1)


class Holder(Task):
    thing: object

    def execute(self, context: ExecutionContext) -> None:  # pragma: no cover
        pass


def sample() -> Everything:
    return Everything(
        "n",
        3,
        0.5,
        True,
        ["a", "b"],
        {"w": 1.5},
        Color.BLUE,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        uuid4(),
        b"\x00\xffbytes",
        Point(1, 2),
    )


def test_positional_and_keyword_construction() -> None:
    t = sample()
    assert t.count == 3 and t.point == Point(1, 2)
    k = Everything(**{f: getattr(t, f) for f in t.__dataclass_fields__})
    assert k == t


def test_inputs_round_trip_through_a_runner(client: Client) -> None:
    task = sample()
    job = client.jobs().submit("everything", task)
    [info] = client.jobs().tasks(job.id)
    assert info.input["blob"] == "AP9ieXRlcw=="  # bytes travel as base64
    assert info.input["color"] == "blue"
    client.runner(tasks=[Everything]).run_all()
    job = client.jobs().find(job.id)
    assert job.state.value == "COMPLETED"
    assert SEEN[-1] == task
    assert isinstance(SEEN[-1].point, Point) and SEEN[-1].color is Color.BLUE


def test_identifier_override(client: Client) -> None:
    job = client.jobs().submit("renamed", Renamed())
    [info] = client.jobs().tasks(job.id)
    assert (info.identifier, info.version) == ("example.com/renamed", "v2")
    client.runner(tasks=[Renamed]).run_all()
    assert client.jobs().find(job.id).progress[0].done == 1


def test_unserializable_input_fails_at_submit(client: Client) -> None:
    with pytest.raises(SerializationError, match="thing"):
        client.jobs().submit("bad", Holder(socket.socket()))
    assert client.jobs().query() == []


def test_bad_submit_arguments(client: Client) -> None:
    with pytest.raises(ValueError, match="name"):
        client.jobs().submit("", Renamed())
    with pytest.raises(ValueError, match="max_retries"):
        client.jobs().submit("x", Renamed(), max_retries=-1)
    with pytest.raises(SerializationError):
        client.jobs().submit("x", "not a task")  # type: ignore[arg-type]


def test_unregistered_task_stays_queued(client: Client) -> None:
    job = client.jobs().submit("renamed", Renamed())
    assert client.runner(tasks=[Everything]).run_all() == 0
    assert client.jobs().tasks(job.id)[0].state is TaskState.QUEUED
