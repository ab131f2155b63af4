"""The command line: parses, calls the layers, prints. No logic of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from labelwise.errors import LabelwiseError

app = typer.Typer(
    help="labelwise: label only the images that teach the model most.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """labelwise: label only the images that teach the model most."""


DEFAULT_STRATEGIES = "random,margin,entropy,least-confidence,variance,bald"


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@app.command()
def simulate(
    dataset: Annotated[str, typer.Option(help="toy, digits or fashion-mnist")] = "toy",
    strategies: Annotated[str, typer.Option(help="comma-separated strategy names")] = DEFAULT_STRATEGIES,
    initial: Annotated[int | None, typer.Option(help="random labels to start from (dataset default)")] = None,
    batch: Annotated[int | None, typer.Option(help="labels added per round (dataset default)")] = None,
    budget: Annotated[int | None, typer.Option(help="total labels at the end (dataset default)")] = None,
    seeds: Annotated[int, typer.Option(help="repetitions with different random starts")] = 5,
    workers: Annotated[int | None, typer.Option(help="parallel processes (default: one per core)")] = None,
    plot_boundary: Annotated[bool, typer.Option(help="toy only: draw random's and margin's boundaries")] = False,
    out: Annotated[Path, typer.Option(help="folder for curves.csv, summary.json, curves.png")] = Path("out"),
) -> None:
    """Replay active learning on labeled data and compare strategies with learning curves."""
    from labelwise.loop import plots, report
    from labelwise.loop.datasets import load_dataset
    from labelwise.loop.simulate import run_one
    from labelwise.loop.simulate import simulate as run_simulation

    try:
        data = load_dataset(dataset)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        initial = data.initial if initial is None else initial
        batch = data.batch if batch is None else batch
        budget = data.budget if budget is None else budget
        out.mkdir(parents=True, exist_ok=True)
        with _progress() as progress:
            task = progress.add_task(f"simulating {dataset}", total=len(names) * seeds)
            points = run_simulation(
                data, names, seeds, initial, batch, budget,
                workers=workers, on_done=lambda _: progress.advance(task),
            )  # fmt: skip
    except (LabelwiseError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    summary = report.summarize(points, budget)
    summary.update(dataset=dataset, initial=initial, batch=batch, seeds=seeds)
    report.write_curves_csv(points, out / "curves.csv")
    report.write_summary(summary, out / "summary.json")
    plots.plot_curves(summary, out / "curves.png", f"{dataset}: {seeds} seeds, batch {batch}")
    table = Table(title=f"{dataset}: accuracy at {budget} labels (mean ± sd over {seeds} seeds)")
    table.add_column("strategy", no_wrap=True)
    for column in ("accuracy", "vs random (points)", "labels to match random", "labels saved"):
        table.add_column(column, justify="right")
    for row in report.summary_rows(summary):
        table.add_row(*row)
    console.print(table)
    written = [out / "curves.csv", out / "summary.json", out / "curves.png"]
    if plot_boundary:
        if dataset != "toy":
            raise _fail("--plot-boundary draws 2-D boundaries and needs --dataset toy")
        loops = {name: run_one(data, name, 0, initial, batch, budget)[1] for name in ("random", "margin")}
        plots.plot_boundary(data, loops, out / "boundary.png")
        written.append(out / "boundary.png")
    console.print("wrote " + ", ".join(str(p) for p in written))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
