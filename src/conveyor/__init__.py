"""Conveyor: durable workflows with live progress for long GPU jobs, behind an async API."""

from __future__ import annotations

from conveyor.exceptions import (
    ConveyorError,
    JobNotFoundError,
    LeaseLostError,
    ResultNotFoundError,
    SerializationError,
    TaskCancelledError,
)
from conveyor.models import ErrorInfo, Job, JobState, ProgressIndicator, TaskInfo, TaskState
from conveyor.remote import AsyncClient
from conveyor.workflows import (
    Client,
    ExecutionContext,
    JobCache,
    JobClient,
    Runner,
    Task,
    TaskHandle,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "ConveyorError",
    "ErrorInfo",
    "ExecutionContext",
    "Job",
    "JobCache",
    "JobClient",
    "JobNotFoundError",
    "JobState",
    "LeaseLostError",
    "ProgressIndicator",
    "ResultNotFoundError",
    "Runner",
    "SerializationError",
    "Task",
    "TaskCancelledError",
    "TaskHandle",
    "TaskInfo",
    "TaskState",
    "__version__",
]
