"""The workflow SDK: tasks, their execution context, the client and the runner."""

from __future__ import annotations

from conveyor.workflows.cache import JobCache
from conveyor.workflows.client import Client, JobClient
from conveyor.workflows.context import ExecutionContext, ProgressHandle, TaskHandle
from conveyor.workflows.runner import Runner
from conveyor.workflows.task import Task

__all__ = [
    "Client",
    "ExecutionContext",
    "JobCache",
    "JobClient",
    "ProgressHandle",
    "Runner",
    "Task",
    "TaskHandle",
]
