"""One root for every error Conveyor raises on purpose.

Engines translate driver errors (sqlite3, psycopg) into these types so callers
never depend on which database is behind the store.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ConveyorError",
    "InvalidStateError",
    "JobNotFoundError",
    "LeaseLostError",
    "SchemaVersionError",
    "SerializationError",
    "StoreError",
    "TaskCancelledError",
    "UnknownTaskError",
]


class ConveyorError(Exception):
    """Base class of all Conveyor errors."""


class SerializationError(ConveyorError, ValueError):
    """A task's input cannot be stored as JSON, or stored JSON no longer fits the task."""


class UnknownTaskError(ConveyorError, LookupError):
    """No registered task class has the requested identifier."""


class JobNotFoundError(ConveyorError, LookupError):
    """The job does not exist (or belongs to another tenant)."""


class ResultNotFoundError(ConveyorError, LookupError):
    """The job has no result of that name (yet, or its bytes are gone from the blob store)."""


class InvalidStateError(ConveyorError):
    """The operation does not apply to the job or task in its current state."""


class ConflictError(ConveyorError):
    """The request conflicts with stored state (for example a reused idempotency key)."""


class StoreError(ConveyorError):
    """The database failed in a way the caller cannot fix by changing its input."""


class SchemaVersionError(StoreError):
    """The database schema is older or newer than this version of Conveyor expects."""


class LeaseLostError(ConveyorError):
    """This attempt no longer owns its task: another runner reclaimed it, or it finished.

    Raised to fence writes from a worker that lost its lease ("zombie" writes).
    """


class TaskCancelledError(ConveyorError):
    """Raised inside a running task (at its next progress call) once its job is cancelled."""
