"""The task types a server accepts, and turning a request's ``task`` into a Task instance.

The API validates input by building the task exactly as a runner will
(``decode_input``), so a job that would fail to decode on a worker is refused at
submission with a 422 naming the field instead.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from conveyor.api.errors import RequestError
from conveyor.exceptions import SerializationError
from conveyor.workflows._serde import decode_input
from conveyor.workflows.task import Task, task_identifier

__all__ = ["TaskCatalog", "tasks_from_modules"]

_LOC = ("body", "task")


def tasks_from_modules(modules: Iterable[str]) -> list[type[Task]]:
    """The Task classes defined in the given modules (dotted names)."""
    found: dict[str, type[Task]] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ValueError(f"cannot import task module {name!r}: {exc}") from exc
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Task) and obj is not Task and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


class TaskCatalog:
    """Registered task classes by identifier and version."""

    def __init__(self, tasks: Sequence[type[Task]]) -> None:
        self._by_name: dict[str, dict[str, type[Task]]] = {}
        for task_cls in tasks:
            name, version = task_identifier(task_cls)
            versions = self._by_name.setdefault(name, {})
            if versions.get(version, task_cls) is not task_cls:
                raise ValueError(f"two task classes share the identifier {name!r} {version!r}")
            versions[version] = task_cls

    def __iter__(self) -> Any:
        for name in sorted(self._by_name):
            for version in sorted(self._by_name[name]):
                yield name, version, self._by_name[name][version]

    def resolve(self, identifier: str, version: str | None = None) -> type[Task]:
        """The class registered for ``identifier`` (and ``version``); RequestError if none."""
        versions = self._by_name.get(identifier)
        if not versions:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise RequestError(
                422,
                (*_LOC, "identifier"),
                f"unknown task {identifier!r}; this server accepts: {known}",
                "unknown_task",
            )
        if version is None:
            if len(versions) > 1:
                raise RequestError(
                    422,
                    (*_LOC, "version"),
                    f"task {identifier!r} has versions {sorted(versions)}: choose one",
                    "missing",
                )
            return next(iter(versions.values()))
        if version not in versions:
            raise RequestError(
                422,
                (*_LOC, "version"),
                f"task {identifier!r} has no version {version!r} (known: {sorted(versions)})",
                "unknown_version",
            )
        return versions[version]

    def build(self, identifier: str, input: dict[str, Any], version: str | None = None) -> Task:
        """A task instance from request data; RequestError (422) naming the bad input field."""
        task_cls = self.resolve(identifier, version)
        known = {f.name for f in dataclasses.fields(task_cls)}  # type: ignore[arg-type]
        extra = [key for key in input if key not in known]
        if extra:
            raise RequestError(
                422,
                (*_LOC, "input"),
                "unknown input field",
                items=[
                    {
                        "loc": [*_LOC, "input", key],
                        "msg": f"task {identifier!r} has no input field {key!r}",
                        "type": "extra_forbidden",
                    }
                    for key in extra
                ],
            )
        try:
            text = json.dumps(input, allow_nan=False)
        except ValueError as exc:
            raise RequestError(422, (*_LOC, "input"), f"input is not valid JSON: {exc}") from exc
        try:
            return decode_input(task_cls, text)
        except SerializationError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                items = [
                    {
                        "loc": [*_LOC, "input", *err["loc"]],
                        "msg": err["msg"],
                        "type": err["type"],
                    }
                    for err in cause.errors(include_url=False)
                ]
                raise RequestError(422, (*_LOC, "input"), str(exc), items=items) from exc
            raise RequestError(422, (*_LOC, "input"), str(exc)) from exc
        except Exception as exc:  # a task's own __post_init__ checks
            raise RequestError(422, (*_LOC, "input"), f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def input_schema(task_cls: type[Task]) -> dict[str, Any] | None:
        """The JSON schema of a task's input, or None if pydantic cannot describe it."""
        try:
            return TypeAdapter(task_cls).json_schema()
        except Exception:
            return None
