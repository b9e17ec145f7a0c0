"""What the conveyor command prints is what was written: square brackets in help texts, job
names, progress labels and error messages are text, not rich markup (which would drop
``[default: 8]`` and fail on ``[/]`` with a traceback)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from conveyor import Client, ExecutionContext, Task
from conveyor.cli import app

NAME = "render [bold]hd[/] [/]"
LABEL = "[dl]"
MESSAGE = "bad input [/] near [red]x[/red]"


class Bracketed(Task):
    """A job whose labelled task completes and whose last task fails."""

    def execute(self, context: ExecutionContext) -> None:
        labelled = context.submit_subtask(Labelled())
        context.submit_subtask(Failing(), depends_on=[labelled])


class Labelled(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.progress(LABEL).add(2)
        context.progress(LABEL).done(1)


class Failing(Task):
    def execute(self, context: ExecutionContext) -> None:
        raise ValueError(MESSAGE)


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if hasattr(command, "commands"):  # a group (typer ships its own click)
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_every_bracketed_help_text_is_shown() -> None:
    runner = CliRunner()
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        bracketed = [p.help for p in command.params if getattr(p, "help", None) and "[" in p.help]
        if not bracketed:
            continue
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "1000"})
        assert result.exit_code == 0, result.output
        shown = _flat(result.output)
        for help_text in bracketed:
            for part in re.findall(r"\\?\[[^\]]*\]", help_text):
                assert _flat(part.lstrip("\\")) in shown, (path, part)
                checked += 1
    assert checked >= 10  # [default: ...] and [env: ...] of serve, worker, bench, submit...


def test_names_labels_and_errors_with_brackets_print_as_written(
    client: Client, db_url: str
) -> None:
    job = client.jobs().submit(NAME, Bracketed(), max_retries=0)
    client.runner(tasks=[Bracketed, Labelled, Failing]).run_all()
    runner = CliRunner()
    shown = runner.invoke(app, ["jobs", "show", str(job.id), "--database-url", db_url])
    assert shown.exit_code == 0, shown.output
    assert NAME in shown.output
    assert f"  {LABEL}: 1/2" in shown.output
    assert f"ValueError: {MESSAGE}" in _flat(shown.output)
    listed = runner.invoke(app, ["jobs", "list", "--database-url", db_url], env={"COLUMNS": "1000"})
    assert listed.exit_code == 0, listed.output
    assert NAME in listed.output


def test_an_error_quoting_brackets_is_one_line_without_traceback(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "worker", "[/]nope.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no such file: [/]nope.py" in _flat(result.stderr)
