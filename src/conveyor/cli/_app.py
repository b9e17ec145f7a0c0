"""The typer application object and the error-to-message entry point."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from conveyor._torch_threads import keep_torch_threads_warm
from conveyor.exceptions import ConveyorError

__all__ = ["app", "console", "err_console", "escape", "fail", "main"]

app = typer.Typer(
    name="conveyor",
    help="Durable workflows with live progress for long GPU jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error line and return the Exit to raise.

    The message is escaped: it often quotes what the user typed, and rich would read
    ``[bold]`` in it as a style (and ``[/]`` as an error of its own).
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def main() -> None:
    """Console entry point: run the app, print Conveyor errors without a traceback."""
    keep_torch_threads_warm()  # before a command or a task module imports torch
    try:
        app()
    except (ConveyorError, ValueError, LookupError, OSError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(1)
