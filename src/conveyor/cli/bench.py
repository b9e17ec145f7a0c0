"""``conveyor bench``: images per second on this machine, direct and through the queue.

For each ``--batch`` size it alternates the model called directly with the same images as
generation jobs drained by a runner on a throwaway SQLite database
(:func:`conveyor.diffusion.queue_bench.compare`), then prints a table: both rates, the
queue's overhead with a 95 % confidence interval, the worker's time outside the model, and
the batching speed-up over the smallest batch size. Run it on a GPU worker with
``--device cuda`` (and ``--models`` for a local pipeline) to choose ``--max-batch-size``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from conveyor.cli._app import app, console, fail
from conveyor.cli._options import Device, Models

if TYPE_CHECKING:  # the command imports the diffusion layer when it runs, not at CLI start
    from conveyor.diffusion.queue_bench import QueueFigures

__all__ = ["figures_table"]


def figures_table(figures: list[QueueFigures]) -> Table:
    """One row per batch size."""
    table = Table(
        title="images per second, direct vs queue: medians over the pairs",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption="overhead: 1 - queue/direct per pair, with a 95 % confidence interval of "
        "its median; outside model, blob writes: shares of the queue's wall time; model "
        "slower: the model's own time per image in the queue's chunks over direct",
        caption_justify="left",
    )
    for column in (
        "batch",
        "direct\nimg/s",
        "queue\nimg/s",
        "over-\nhead",
        "its 95 %\nCI",
        "pairs",
        "outside\nmodel",
        "blob\nwrites",
        "model\nslower",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    for f in figures:
        table.add_row(
            str(f.batch),
            f"{f.direct:.2f}",
            f"{f.queue:.2f}",
            f"{f.overhead:.1%}",
            f"{f.overhead_low:.1%}..{f.overhead_high:.1%}",
            str(f.pairs),
            f"{f.outside_model:.1%}",
            f"{f.blob_writes:.1%}",
            f"{f.model_slower:+.1%}",
        )
    return table


@app.command()
def bench(
    model: Annotated[str, typer.Option(help="the bundled digits or a --models name")] = "digits",
    prompt: Annotated[str, typer.Option(help="what every image shows")] = "a seven",
    steps: Annotated[int, typer.Option(min=1, help="denoising steps per image")] = 20,
    batch: Annotated[
        list[int] | None,
        typer.Option(min=1, max=256, help="a batch size to measure (repeat) \\[default: 1, 8]"),
    ] = None,
    per_job: Annotated[int, typer.Option(min=1, help="images per job (num_images)")] = 1,
    images: Annotated[int, typer.Option(min=1, help="images per chunk of each pair")] = 16,
    seconds: Annotated[
        float, typer.Option(min=0, help="how long to run pairs at each batch size")
    ] = 120.0,
    pairs: Annotated[int, typer.Option(min=1, help="at least this many pairs per size")] = 15,
    data_dir: Annotated[
        str | None,
        typer.Option(help="where the queue's database and blobs go \\[default: the temp dir]"),
    ] = None,
    progress_interval_seconds: Annotated[
        float,
        typer.Option(
            "--progress-interval-seconds",
            "--progress-interval",
            envvar="CONVEYOR_PROGRESS_INTERVAL_SECONDS",
            min=0.001,
            help="the queue's runner writes live progress at most this often",
        ),
    ] = 0.1,
    device: Device = None,
    models: Models = None,
) -> None:
    """Measure images per second calling the model directly and through the queue."""
    from conveyor.diffusion import ModelRegistry, parse_models_setting
    from conveyor.diffusion.queue_bench import compare

    sizes = sorted(set(batch or [1, 8]))
    if images % per_job:
        raise fail(f"--images ({images}) must be a multiple of --per-job ({per_job})")
    if images < max(sizes):
        raise fail(f"--images ({images}) must be at least the largest --batch ({max(sizes)})")
    registry = ModelRegistry(parse_models_setting(models), device=device)
    with console.status(f"loading {model}"):
        engine = registry.get(model)
    console.print(
        f"model {model} on {engine.device}, {steps} steps, {images}-image chunks in jobs of "
        f"{per_job}, {seconds:g} s and at least {pairs} pairs per batch size"
    )
    figures: list[QueueFigures] = []
    for size in sizes:
        with console.status(f"batch {size}: warming up") as status:
            figures.append(
                compare(
                    size,
                    registry=registry,
                    model=model,
                    prompt=prompt,
                    steps=steps,
                    images=images,
                    per_job=per_job,
                    seconds=seconds,
                    pairs=pairs,
                    data_dir=data_dir,
                    progress_interval=progress_interval_seconds,
                    on_pair=lambda done, size=size: status.update(f"batch {size}: {done} pairs"),
                )
            )
    console.print(figures_table(figures))
    base = figures[0]
    for f in figures[1:]:
        console.print(
            f"batching speed-up at batch {f.batch} over {base.batch}: queue "
            f"{f.queue / base.queue:.2f}x, direct {f.direct / base.direct:.2f}x"
        )
