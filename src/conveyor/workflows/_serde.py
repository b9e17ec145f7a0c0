"""Task input <-> JSON, driven by the task's type hints (pydantic does the work).

Supported field types: str, int, float, bool, None, lists, tuples, dicts with str
keys, nested dataclasses, enums, datetimes/dates, UUIDs, and bytes (base64 in the
JSON). Encoding is checked with a decode round trip at submit time so that a
task that cannot be rebuilt fails where it is submitted, not on a runner.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from conveyor.exceptions import SerializationError
from conveyor.ids import new_id
from conveyor.store.records import NewTask
from conveyor.workflows.task import Task, task_identifier

__all__ = ["EncodedTask", "decode_input", "encode_task", "new_task"]

T = TypeVar("T", bound=Task)


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedTask:
    """A task ready to be stored: its identifier and its JSON input."""

    identifier: str
    version: str
    input_json: str
    batch_key: str | None = None

    @property
    def kind(self) -> str:
        return f"{self.identifier}@{self.version}"


@lru_cache(maxsize=1024)
def _adapter(task_cls: type[Task]) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(task_cls)
    except Exception as exc:
        raise SerializationError(
            f"task {task_cls.__qualname__} has fields Conveyor cannot serialize: {exc}"
        ) from exc


def _field_error(task: Task) -> str:
    """Name the first field whose value cannot be encoded, for a useful error."""
    for field in dataclasses.fields(task):  # type: ignore[arg-type]
        value = getattr(task, field.name)
        try:
            TypeAdapter(Any).dump_json(value)
        except Exception:
            return f"field {field.name!r} ({type(value).__name__} value)"
    return "its input"


def encode_task(task: Task) -> EncodedTask:
    """Encode a task instance; raise SerializationError naming the bad field."""
    if not isinstance(task, Task):
        raise SerializationError(f"expected a Task instance, got {type(task).__name__}")
    task_cls = type(task)
    name, version = task_identifier(task_cls)
    adapter = _adapter(task_cls)
    try:
        raw = adapter.dump_json(task)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise SerializationError(
            f"cannot serialize {_field_error(task)} of task {name!r}: {exc}"
        ) from exc
    text = raw.decode()
    decode_input(task_cls, text)  # round trip: fail now, not on a runner
    batch_key = task.batch_key() if task_cls.max_batch_size > 1 else None
    return EncodedTask(name, version, text, batch_key)


def decode_input(task_cls: type[T], input_json: str) -> T:
    """Rebuild a task instance from its stored JSON input."""
    try:
        return _adapter(task_cls).validate_json(input_json)  # type: ignore[no-any-return]
    except ValidationError as exc:
        name = task_identifier(task_cls)[0]
        raise SerializationError(f"stored input does not fit task {name!r}: {exc}") from exc


def input_to_python(input_json: str) -> Any:
    """The stored input as plain JSON values (for inspection, no task class needed)."""
    return json.loads(input_json)


def new_task(
    task: Task, *, max_retries: int = 0, optional: bool = False, depends_on: tuple[int, ...] = ()
) -> NewTask:
    """Validate the options and encode ``task`` into a row to insert (root or subtask)."""
    if type(max_retries) is not int or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
    encoded = encode_task(task)
    return NewTask(
        id=new_id(),
        identifier=encoded.identifier,
        version=encoded.version,
        input_json=encoded.input_json,
        max_retries=max_retries,
        optional=bool(optional),
        depends_on=depends_on,
        batch_key=encoded.batch_key,
    )
