"""The ``conveyor`` command line (typer + rich).

Each command group lives in its own module and registers itself on ``app``;
``main`` turns Conveyor's own errors into one-line messages (exit code 1)
instead of tracebacks.
"""

from __future__ import annotations

import importlib

from conveyor.cli._app import app, main

# Modules that add commands to ``app`` when imported.
_COMMAND_MODULES = (
    "worker",
    "jobs",
    "demo",
    "notifier",
    "serve",
    "dev",
    "submit",
    "watch",
    "keys",
    "db",
    "bench",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"conveyor.cli.{_name}")

__all__ = ["app", "main"]
