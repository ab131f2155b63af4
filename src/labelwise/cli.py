"""The command line: parses, calls the layers, prints. No logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from labelwise.errors import LabelwiseError

if TYPE_CHECKING:
    from labelwise.project import Project

T = TypeVar("T")

app = typer.Typer(
    help="labelwise: label only the images that teach the model most.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _root() -> None:
    """labelwise: label only the images that teach the model most."""


KEEP_ALIVE_S = 5  # an idle kept-alive connection is closed after this many seconds
DEFAULT_STRATEGIES = "random,auto,margin,entropy,least-confidence,variance,bald"


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
    dataset: Annotated[
        str,
        typer.Option(
            help="toy, digits, fashion-mnist or fashion-mnist-pixels; multi-label: fmnist-pairs (two items side by "
            "side, embedded by --backbone) or fmnist-pairs-pixels"
        ),
    ] = "toy",
    images: Annotated[
        Path | None, typer.Option(help="your own labeled ImageFolder (sub-folder = class) instead of --dataset")
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="with --images: share held out for testing")] = 0.2,
    backbone: Annotated[str, typer.Option(help="fashion-mnist and --images: lite0 or squeezenet")] = "lite0",
    strategies: Annotated[
        str | None,
        typer.Option(help=f"comma-separated strategy names (default {DEFAULT_STRATEGIES}; multi-label: all its own)"),
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="with --images: any number of classes per image, from --labels")
    ] = False,
    labels: Annotated[
        Path | None, typer.Option(help="with --images --multi-label: CSV of path,labels (classes joined by ;)")
    ] = None,
    initial: Annotated[int | None, typer.Option(help="random labels to start from (dataset default)")] = None,
    batch: Annotated[int | None, typer.Option(help="labels added per round (dataset default)")] = None,
    budget: Annotated[int | None, typer.Option(help="total labels at the end (dataset default)")] = None,
    budgets: Annotated[
        str | None, typer.Option(help="comma-separated checkpoints, e.g. 10,20,50,100; the last is the budget")
    ] = None,
    seeds: Annotated[int, typer.Option(help="repetitions with different random starts")] = 5,
    head: Annotated[
        str,
        typer.Option(
            help="comma-separated heads: logistic, self-training, label-spreading, auto (the product's "
            "default); curves of heads other than logistic are named strategy+head"
        ),
    ] = "logistic",
    workers: Annotated[int | None, typer.Option(help="parallel processes (default: one per core)")] = None,
    audit_fraction: Annotated[
        float, typer.Option(help="share of each batch drawn at random to estimate accuracy as the product does")
    ] = 0.05,
    plot_boundary: Annotated[bool, typer.Option(help="toy only: draw random's and margin's boundaries")] = False,
    out: Annotated[Path, typer.Option(help="folder for curves.csv, summary.json, curves.png")] = Path("out"),
) -> None:
    """Replay active learning on labeled data and compare strategies with learning curves."""
    from labelwise.loop import experiment
    from labelwise.loop import multilabel_experiment as ml

    try:
        multi = ml.is_multilabel(dataset, images, multi_label)
        if multi and head != "logistic":
            raise LabelwiseError("--head: multi-label runs train one-vs-rest logistic heads only")
        experiment.check_boundary_plot(plot_boundary, dataset, images)
        with _progress() as progress:
            task = progress.add_task("embedding (once; cached for later runs)", total=None, visible=False)
            request = experiment.DataRequest(dataset, images, labels, test_fraction, backbone)
            data = (ml.load_multilabel if multi else experiment.load_data)(
                request,
                on_total=lambda n: progress.update(task, total=n, visible=n > 0),
                on_progress=lambda k: progress.advance(task, k),
            )
        name = data.name if multi or images is not None else dataset
        strategies = strategies or (ml.default_strategies() if multi else DEFAULT_STRATEGIES)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        heads = [h.strip() for h in head.split(",") if h.strip()]
        plan = experiment.plan_simulation(
            data, initial=initial, batch=batch, budget=budget,
            checkpoints=[int(b) for b in budgets.split(",")] if budgets else None,
        )  # fmt: skip
        if plan.warning:
            err_console.print(f"[yellow]warning:[/] {plan.warning}")
        with _progress() as progress:
            task = progress.add_task(f"simulating {name}", total=len(names) * seeds * (1 if multi else len(heads)))
            run = {"workers": workers, "on_done": lambda _: progress.advance(task)}
            if multi:
                outcome = ml.run_multilabel(data, names, seeds, plan, out, **run)
            else:
                outcome = experiment.run_simulation(
                    data, name, names, seeds, plan, out, **run, audit_fraction=audit_fraction, heads=heads
                )
    except (LabelwiseError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    _print_strategy_table(outcome.title, outcome.metric, outcome.rows)
    written = outcome.written
    if plot_boundary:
        written.append(experiment.write_boundary_plot(data, plan, out / "boundary.png"))
    console.print("wrote " + ", ".join(str(p) for p in written))


def _print_strategy_table(title: str, metric: str, rows) -> None:
    """The simulator's table: each strategy's ``metric`` at the budget, against random."""
    table = Table(title=title)
    table.add_column("strategy", no_wrap=True)
    for column in (metric, "vs random (points)", "labels to match random", "labels saved"):
        table.add_column(column, justify="right", no_wrap=column == metric)
    for row in rows:
        table.add_row(*row)
    console.print(table)


class RateColumn(ProgressColumn):
    """Items per second, for ingest progress."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} img/s", style="progress.data.speed")


def _open(project: Path) -> Project:
    from labelwise.project import Project

    return Project(project)


def _on_project(project: Path, change: Callable[[Project], T]) -> T:
    """``change`` applied to the opened project; a LabelwiseError becomes the one-line failure (exit 2)."""
    try:
        return change(_open(project))
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc


def _writer(folder: Path, no_wait: bool):
    """The project's write lock; a busy project is waited for with a message, or refused."""
    from labelwise.project.lock import project_writer

    def tell(who: str) -> None:
        err_console.print(f"waiting: another labelwise command is writing {folder} ({who}) ...", highlight=False)

    return project_writer(folder, wait=not no_wait, on_wait=tell)


NoWait = Annotated[bool, typer.Option("--no-wait", help="refuse at once if another command is writing the project")]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray", metavar="ADDRESS",
        help="read and embed on Ray: local, auto (RAY_ADDRESS), host:port or ray://host:10001 (see docs/ray.md)",
    ),
]  # fmt: skip


def _ingest_with_progress(proj: Project, folder: str | None, ray: str | None = None) -> None:
    from labelwise.project.ingest import ingest_folder, read_locally

    reader = read_locally
    if ray is not None:
        from labelwise.project.ray_ingest import ray_reader

        reader = ray_reader(ray)

    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
        TimeElapsedColumn(), console=err_console,
    ) as progress:  # fmt: skip
        task = progress.add_task("ingesting", total=None)
        report = ingest_folder(
            proj, folder,
            on_total=lambda n: progress.update(task, total=n),
            on_progress=lambda k: progress.advance(task, k), reader=reader,
        )  # fmt: skip
    console.print(report.summary)
    if report.scanned == 0:
        err_console.print(f"[yellow]warning:[/] no image files found in {folder or proj.config.images_root}")
    for old, new in report.moved[:20]:
        console.print(f"  moved {old} -> {new}", highlight=False)
    for path in report.missing[:20]:
        console.print(f"  [yellow]missing[/] {path}", highlight=False)
    for path in report.changed[:20]:
        console.print(f"  [yellow]changed[/] {path}: its label went to the history; label it again", highlight=False)
    for path, reason in report.broken[:20]:
        console.print(f"  [yellow]broken[/] {path}: {reason}", highlight=False)
    if len(report.broken) > 20:
        console.print(f"  ... and {len(report.broken) - 20} more: see `labelwise status`")


@app.command()
def init(
    project: Annotated[Path, typer.Argument(help="the project folder to create")],
    images: Annotated[
        str, typer.Option(help="folder of images, scanned recursively, or an object store URI (s3://bucket/prefix)")
    ],
    classes: Annotated[str | None, typer.Option(help="comma-separated class names")] = None,
    labels_from_folders: Annotated[bool, typer.Option(help="ImageFolder layout: sub-folder name = class")] = False,
    labels: Annotated[Path | None, typer.Option(help="CSV of path,label, or a Label Studio JSON export")] = None,
    backbone: Annotated[str, typer.Option(help="lite0 (default) or squeezenet")] = "lite0",
    db: Annotated[str, typer.Option("--db", help="database URL (default: SQLite in the project)")] = "",
    max_pixels: Annotated[int, typer.Option(help="refuse images with more pixels (bomb guard)")] = 100_000_000,
    embeddings: Annotated[
        Path | None, typer.Option(help="your own vectors instead of a backbone: Parquet or NPZ of path -> vector")
    ] = None,
    near_duplicates: Annotated[
        float | None, typer.Option(help="group images whose embeddings' cosine is at least this (e.g. 0.97)")
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="each image carries a set of classes, possibly none (fixed)")
    ] = False,
    no_wait: NoWait = False,
    ray: RayAddress = None,
) -> None:
    """Create a project: scan and validate the images, embed them, import labels."""
    from labelwise.project import Project
    from labelwise.project.labels import remember_label_import
    from labelwise.project.user_embeddings import (
        USER_BACKBONE,
        embeddings_file_setting,
        read_user_embeddings,
        store_user_embeddings,
    )

    if labels is not None and not labels.is_file():
        raise _fail(f"--labels: {labels}: file not found")
    try:
        vectors = read_user_embeddings(embeddings) if embeddings is not None else None
        extra = {} if vectors is None else {"extra": embeddings_file_setting(embeddings, vectors.vectors.shape[1])}
        proj = Project.create(project, images, backbone=USER_BACKBONE if vectors is not None else backbone, db_url=db,
                              max_pixels=max_pixels, multi_label=multi_label, **extra)  # fmt: skip
        if near_duplicates is not None:
            from labelwise.project.near_duplicates import set_threshold

            set_threshold(proj, near_duplicates)
        with _writer(project, no_wait):
            if vectors is not None:
                _report_user_embeddings(store_user_embeddings(proj, vectors), embeddings)
            if classes:
                proj.add_classes([c for c in classes.split(",")])
            remember_label_import(proj, from_folders=labels_from_folders, csv_path=labels, add_classes=not classes)
            _ingest_with_progress(proj, None, ray)
            _finish_label_import(proj)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"project ready: {project}  (next: `labelwise suggest {project}`)")


def _report_user_embeddings(report, file: Path) -> None:
    kept = f" ({report.kept} image(s) had one already: kept)" if report.kept else ""
    console.print(f"{report.stored} vector(s) from {file}{kept}", highlight=False)
    _print_refusals(report.errors, report.not_found, "no such image")


def _print_refusals(errors: list[str], missing: list[str], missing_title: str) -> None:
    """Rows a file import refused, then the paths it named that the project does not have (20 shown)."""
    for error in errors:
        err_console.print(f"  [yellow]refused[/] {error}", highlight=False)
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        err_console.print(f"  [yellow]{missing_title}[/] ({len(missing)}): {shown}", highlight=False)


def _finish_label_import(proj: Project) -> None:
    """Labels asked for at ``init`` (also when ``init`` was stopped before it got to them)."""
    from labelwise.project.labels import finish_label_import

    from_folders, from_csv = finish_label_import(proj)
    if from_folders is not None:
        console.print(f"labels from folders: {from_folders.imported} imported")
    if from_csv is not None:
        _report_import(from_csv)


def _report_import(result) -> None:
    console.print(f"labels imported: {result.imported}, refused: {len(result.errors)}")
    for error in result.errors:
        err_console.print(f"[yellow]refused[/] {error}", highlight=False)
    if result.errors:
        raise typer.Exit(code=1)


@app.command()
def add(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    images: Annotated[
        str | None, typer.Option(help="folder (or URI) inside the images root (default: the root)")
    ] = None,
    embeddings: Annotated[
        Path | None, typer.Option(help="more of your vectors (a project made with init --embeddings): Parquet or NPZ")
    ] = None,
    no_wait: NoWait = False,
    ray: RayAddress = None,
) -> None:
    """Add new or changed images, and follow the folder: deleted files are marked missing, moved
    files keep their labels, a labeled file whose content changed goes back to the queue for review."""
    from labelwise.project.user_embeddings import add_user_embeddings, read_user_embeddings

    try:
        proj = _open(project)
        vectors = read_user_embeddings(embeddings) if embeddings is not None else None
        with _writer(project, no_wait):
            if vectors is not None:
                _report_user_embeddings(add_user_embeddings(proj, vectors, embeddings), embeddings)
            _ingest_with_progress(proj, images, ray)
            _finish_label_import(proj)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def status(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Counts of images and labels, the backbone, the store size and the broken files."""
    import json

    from labelwise.project.accuracy import model_accuracy
    from labelwise.project.preselect import preselection_stats
    from labelwise.project.status import project_status
    from labelwise.project.votes import agreement_status

    try:
        proj = _open(project)
        info = project_status(proj)
        info["model_accuracy"] = model_accuracy(proj).as_dict()  # from the random audit sample
        info["preselection"] = preselection_stats(proj)
        info["agreement"] = agreement_status(proj)  # overlap images: kappa, per-annotator agreement
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    console.print(f"[bold]{info['project']}[/]  {info['kind']}  images: {info['images_root']}  "
                  f"backbone: {info['backbone']}")  # fmt: skip
    console.print(
        f"images ok {info['images_ok']}, broken {info['images_broken']}, duplicate {info['images_duplicate']}, "
        f"missing {info['images_missing']}; "
        f"labeled {info['labeled']}, unlabeled {info['unlabeled']}"
    )
    console.print(f"embedding store: {info['store_vectors']} vectors, {info['store_bytes'] / 2**20:.1f} MiB")
    console.print(f"model accuracy: {info['model_accuracy']['reason']}", highlight=False)
    pre = info["preselection"]
    if pre["offered"]:
        console.print(
            f"pre-selections: {pre['accepted']} of {pre['offered']} accepted ({pre['acceptance_rate']:.0%}), "
            f"{pre['accepted_corrected']} of those corrected later",
            highlight=False,
        )
    _print_agreement(info["agreement"])
    table = Table("class", "labels")
    for name, count in info["classes"].items():
        table.add_row(name, str(count))
    console.print(table)
    for item in info["broken"]:
        console.print(f"  [yellow]broken[/] {item['path']}: {item['reason']}", highlight=False)
    for path in info["missing"]:
        console.print(f"  [yellow]missing[/] {path}: file not found by the last `labelwise add`", highlight=False)
    for item in info["to_review"]:
        console.print(f"  [yellow]to review[/] {item['path']}: {item['reason']}", highlight=False)


def _print_agreement(agreement: dict) -> None:
    if not agreement["images_with_opinions"] and not agreement["overlap"]:
        return
    name = {"cohen": "Cohen's kappa", "fleiss": "Fleiss' kappa"}.get(agreement["measure"], "kappa")
    kappa = "not measured yet" if agreement["kappa"] is None else f"{agreement['kappa']:.3f}"
    console.print(
        f"agreement (overlap {agreement['overlap']:.0%}, {agreement['labels_per_overlap_image']} labels per image): "
        f"{name} {kappa} on {agreement['kappa_images']} images; {agreement['disputed']} disputed, "
        f"{agreement['pending_opinions']} second opinions wanted",
        highlight=False,
    )
    for person in agreement["annotators"]:
        share = "–" if person["agreement"] is None else f"{person['agreement']:.1%}"
        console.print(f"  {person['name']}: {share} with the majority of the others ({person['n_images']} images)",
                      highlight=False)  # fmt: skip


@app.command()
def suggest(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    n: Annotated[int, typer.Option("-n", help="how many images")] = 20,
    strategy: Annotated[str, typer.Option(help="strategy name (default: auto)")] = "auto",
    candidates: Annotated[str, typer.Option(help="'all' or N: rank only N random images")] = "all",
    explore: Annotated[float, typer.Option(help="fraction of the batch drawn at random")] = 0.0,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    ray: Annotated[
        str | None,
        typer.Option("--ray", metavar="ADDRESS", help="score the pool in shards on Ray (per-image strategies)"),
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="auto, logistic, label-spreading or self-training (default: the project's)")
    ] = None,
) -> None:
    """Train on the project's labels, score the whole pool, print the most informative images."""
    import csv
    import json
    import sys
    from dataclasses import asdict

    from labelwise.project.suggest import suggest as run_suggest

    try:
        n_candidates = None if candidates == "all" else int(candidates)
    except ValueError:
        raise _fail(f"--candidates: expected 'all' or a number, got {candidates!r}") from None
    if fmt not in ("table", "json", "csv"):
        raise _fail(f"--format: expected table, json or csv, got {fmt!r}")
    try:
        result = run_suggest(_open(project), n, strategy=strategy, candidates=n_candidates, explore=explore, ray=ray,
                             head=head)  # fmt: skip
    except (LabelwiseError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if result.note:
        err_console.print(f"[yellow]{result.note}[/]")
    if fmt == "json":
        typer.echo(json.dumps({"strategy": result.strategy, "head": result.head, "note": result.note,
                               "items": [asdict(i) for i in result.items]}, ensure_ascii=False))  # fmt: skip
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "score", "predicted", "probability"])
        for i in result.items:
            writer.writerow([i.path, i.score, i.predicted, i.probability])
        return
    by = result.strategy if result.head is None else f"{result.strategy} ({result.head} head)"
    table = Table(title=f"{len(result.items)} suggestions by {by} "
                  f"({result.n_labeled} labeled, {result.n_unlabeled} unlabeled)")  # fmt: skip
    for column in ("#", "path", "score", "predicted", "p"):
        table.add_column(column, overflow="fold")
    for rank, i in enumerate(result.items, 1):
        table.add_row(
            str(rank), i.path, "" if i.score is None else f"{i.score:.4f}", i.predicted or "",
            "" if i.probability is None else f"{i.probability:.3f}",
        )  # fmt: skip
    console.print(table)


@app.command()
def label(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    path: Annotated[str, typer.Argument(help="image path, relative to the images root")],
    class_name: Annotated[str, typer.Argument(metavar="CLASS", help="a class of the project")],
) -> None:
    """Label one image (relabeling keeps the history). A multi-label project takes its classes joined
    with ';' ("cat;dog"), and "" for none of them."""
    from labelwise.project.labels import label_image
    from labelwise.project.multilabel_labels import label_image_set, split_names

    try:
        proj = _open(project)
        if proj.multi_label:
            label_image_set(proj, path, split_names(class_name))
            console.print(f"labeled {path} as {split_names(class_name) or 'none of the classes'}", highlight=False)
            return
        label_image(proj, path, class_name)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"labeled {path} as {class_name}")


@app.command()
def review(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    n: Annotated[int, typer.Option("-n", help="how many labels to list")] = 20,
    confirm: Annotated[
        list[str] | None, typer.Option(help="PATH: the label of this image is right (repeatable)")
    ] = None,
    change: Annotated[
        list[str] | None, typer.Option(help="PATH=CLASS: give this image another label (repeatable)")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="who reviews, for the history")] = "cli",
    history: Annotated[bool, typer.Option("--history", help="print the latest reviews instead")] = False,
    disputed: Annotated[
        bool, typer.Option("--disputed", help="list only the disputed images (overlap votes tied)")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List the disputed images (overlap votes tied: left out of training until reviewed) and the labels
    most likely wrong (confident learning on out-of-fold predictions), or confirm or change labels;
    every review keeps who, when and the label it had. Confirming or changing a disputed image decides it."""
    import json
    from dataclasses import asdict

    from labelwise.project.review import likely_mislabeled, review_history, review_label
    from labelwise.project.votes import disputed_images

    if fmt not in ("table", "json"):
        raise _fail(f"--format: expected table or json, got {fmt!r}")
    changes = []
    for item in change or []:
        path, sep, name = item.rpartition("=")
        if not sep or not path or not name:
            raise _fail(f"--change: expected PATH=CLASS, got {item!r}")
        changes.append((path, name))
    if confirm or changes:
        for path in confirm or []:
            _on_project(project, lambda p, path=path: review_label(p, path, reviewer=by, reason=None))
            console.print(f"confirmed {path}", highlight=False)
        for path, name in changes:
            done = _on_project(project, lambda p, a=path, b=name: review_label(p, a, reviewer=by, new_class=b,
                                                                              reason=None))  # fmt: skip
            console.print(f"{done['action']} {path}: {done['from']} -> {done['to']}", highlight=False)
        return
    if history:
        rows = _on_project(project, lambda p: review_history(p, limit=n))
        if fmt == "json":
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        for r in rows:
            console.print(f"{r['at'][:19]} {r['by']}: {r['action']} {r['path']} {r['from']} -> {r['to']} "
                          f"(labeled by {r['labeled_by']} at {r['labeled_at'][:19]})", highlight=False)  # fmt: skip
        return
    ties = _on_project(project, lambda p: disputed_images(p))
    if disputed:
        if fmt == "json":
            typer.echo(json.dumps({"disputed": ties}, ensure_ascii=False))
            return
        _print_disputed(ties)
        return
    report = _on_project(project, lambda p: likely_mislabeled(p, n))
    for note in report.notes:
        err_console.print(f"[yellow]{note}[/]")
    if fmt == "json":
        typer.echo(json.dumps({**asdict(report), "items": [asdict(i) for i in report.items], "disputed": ties},
                              ensure_ascii=False))  # fmt: skip
        return
    if ties:
        _print_disputed(ties)
    title = (f"{len(report.items)} labels most likely wrong, of {report.n_checked} checked "
             f"({report.n_flagged} flagged, {report.n_reviewed} already reviewed; {report.seconds:.1f} s)")  # fmt: skip
    table = Table(title=title)
    for column in ("#", "path", "label", "p(label)", "suggested", "p", "flagged", "by"):
        table.add_column(column, overflow="fold")
    for i in report.items:
        table.add_row(str(i.rank), i.path, i.label, f"{i.given_p:.3f}", i.suggested, f"{i.suggested_p:.3f}",
                      "yes" if i.flagged else "", i.annotator)  # fmt: skip
    console.print(table)


def _print_disputed(ties: list[dict]) -> None:
    table = Table(title=f"{len(ties)} disputed images (votes tied; not trained on until reviewed)")
    for column in ("path", "label", "votes", "tied"):
        table.add_column(column, overflow="fold")
    for t in ties:
        votes = ", ".join(f"{v['by']}: {v['label']}" for v in t["votes"])
        table.add_row(t["path"], t["label"], votes, " / ".join(t["tied"]))
    console.print(table)


@app.command("import-predictions")
def import_predictions(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    file: Annotated[Path, typer.Argument(help="CSV (header path,class,probability) or JSON list of those objects")],
) -> None:
    """Your own model's predictions: pre-selected on the annotate page and shown in the image grid."""
    from labelwise.project.predictions import import_predictions as run

    report = _on_project(project, lambda proj: run(proj, file))
    console.print(f"imported {report.imported} prediction(s) from {file}", highlight=False)
    _print_refusals(report.errors, report.missing, "not in the project")
    if report.errors:
        raise typer.Exit(code=1)


@app.command()
def similar(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    path: Annotated[str, typer.Argument(help="image path, relative to the images root")],
    n: Annotated[int, typer.Option("-n", help="how many neighbours (at most 48)")] = 48,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """The unlabeled images most similar to one image (cosine on the embeddings): a batch to label."""
    import json

    from labelwise.project.similar import similar_to_path

    batch = _on_project(project, lambda proj: similar_to_path(proj, path, n))
    if as_json:
        items = [{"path": i.path, "similarity": i.similarity} for i in batch.items]
        typer.echo(json.dumps({"path": batch.path, "label": batch.label, "items": items}, ensure_ascii=False))
        return
    console.print(f"{len(batch.items)} unlabeled images nearest to {batch.path} (labeled {batch.label or 'no class'})")
    for item in batch.items:
        console.print(f"  {item.similarity:.3f}  {item.path}", highlight=False)


@app.command("import-labels")
def import_labels(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    csv_file: Annotated[
        Path | None,
        typer.Argument(metavar="[LABELS]", help="CSV with a path and a label column, or a Label Studio JSON export"),
    ] = None,
    add_classes: Annotated[bool, typer.Option(help="create classes named in the CSV that are new")] = False,
    from_folders: Annotated[
        bool, typer.Option("--from-folders", help="label each image with its first sub-folder's name")
    ] = False,
) -> None:
    """Import labels from a CSV (columns by header name: path/image/file and label/class) or from
    the folder names; bad rows are refused one by one with their line number."""
    from labelwise.project.labels import import_label_file, labels_from_folders

    if (csv_file is None) == (not from_folders):
        raise _fail("import-labels: give either a LABELS file or --from-folders")
    try:
        proj = _open(project)
        if from_folders:
            result = labels_from_folders(proj)
        else:
            result = import_label_file(proj, csv_file, add_classes=add_classes)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    _report_import(result)


@app.command()
def export(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    out: Annotated[Path, typer.Option(help="file to write")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json, coco or label-studio")] = "csv",
) -> None:
    """Export the current labels with who gave them, when, and what suggested them."""
    from labelwise.project.export import export_text, labeled_count

    if out.is_dir():
        raise _fail(f"--out: {out}: is a folder; give a file name, e.g. {out / ('labels.' + fmt)}")
    if not out.parent.is_dir():
        raise _fail(f"--out: {out.parent}: folder not found")
    try:
        proj = _open(project)
        out.write_text(export_text(proj, fmt), encoding="utf-8")
        count = labeled_count(proj)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    except OSError as exc:
        raise _fail(f"--out: {out}: {exc.strerror or exc}") from exc
    console.print(f"wrote {count} labels to {out}")


@app.command()
def check(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    repair: Annotated[bool, typer.Option(help="re-embed the images without a vector or with a wrong one")] = False,
    sample: Annotated[int, typer.Option(help="images re-embedded to compare with the store (0: all)")] = 64,
    seed: Annotated[int, typer.Option(help="seed of the sample")] = 0,
) -> None:
    """Check that every ok image has its own vector and that its file is unchanged; exit 1 on problems."""
    from labelwise.project.check import check_project

    try:
        report = check_project(_open(project), sample=sample, seed=seed, repair=repair)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(report.summary)
    listed = [("without a vector", report.without_vector), ("wrong vector", report.wrong_vector),
              ("file missing", report.files_missing), ("file changed", report.files_changed),
              ("unreadable", [f"{p}: {r}" for p, r in report.unreadable])]  # fmt: skip
    for what, paths in listed:
        for path in paths[:20]:
            console.print(f"  [yellow]{what}[/] {path}", highlight=False)
        if len(paths) > 20:
            console.print(f"  ... and {len(paths) - 20} more {what}")
    if report.without_vector or report.wrong_vector:
        console.print(f"repair: `labelwise check {project} --repair`", highlight=False)
    if report.files_missing or report.files_changed:
        console.print(f"files changed on disk: `labelwise add {project}` follows the folder", highlight=False)
    if report.problems:
        raise typer.Exit(code=1)
    console.print("project ok")


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(project: Annotated[Path, typer.Argument(help="the project folder")]) -> None:
    """Apply pending database migrations."""
    from labelwise.project import Project

    try:
        applied = Project(project, check_migrations=False).upgrade_database()
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"database up to date ({applied} migration(s) applied)")


users_app = typer.Typer(help="People who may use the annotation server.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    name: Annotated[str, typer.Argument(help="the person's name")],
    role: Annotated[str, typer.Option(help="admin or annotator")] = "annotator",
) -> None:
    """Create a person; their token is printed alone on one line of stdout (shown only once)."""
    from labelwise.project.users import add_user

    try:
        token = add_user(_open(project), name, role)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(token)


@users_app.command("list")
def users_list(project: Annotated[Path, typer.Argument(help="the project folder")]) -> None:
    """One line per person: name, role, created, and whether the account is disabled."""
    from labelwise.project.users import list_users

    for user in list_users(_open(project)):
        state = "disabled" if user["disabled"] else "active"
        typer.echo(f"{user['name']}\t{user['role']}\t{user['created_at']}\t{state}")


@users_app.command("disable")
def users_disable(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    name: Annotated[str, typer.Argument(help="the person's name")],
) -> None:
    """Refuse this person's token from now on (401); their labels stay."""
    from labelwise.project.users import disable_user

    _on_project(project, lambda p: disable_user(p, name))
    typer.echo(f"{name}: disabled")


@users_app.command("rotate")
def users_rotate(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    name: Annotated[str, typer.Argument(help="the person's name")],
) -> None:
    """Give this person a new token, printed alone on one line (shown only once); the old one stops working."""
    from labelwise.project.users import rotate_token

    typer.echo(_on_project(project, lambda p: rotate_token(p, name)))


classes_app = typer.Typer(help="The project's classes: list, add, rename, merge, retire.", no_args_is_help=True)
app.add_typer(classes_app, name="classes")
ProjectArg = Annotated[Path, typer.Argument(help="the project folder")]
ByOption = Annotated[str, typer.Option("--by", help="who made the change, for the history")]


@classes_app.command("list")
def classes_list(project: ProjectArg) -> None:
    """Each class with its current labels, retired ones marked; then the latest changes."""
    from labelwise.project.classes import class_history, list_classes

    rows, history = _on_project(project, lambda p: (list_classes(p), class_history(p, limit=20)))
    table = Table(title=f"classes of {project}")
    for column in ("#", "class", "labels", "state"):
        table.add_column(column, justify="right" if column in ("#", "labels") else "left")
    for c in rows:
        table.add_row(str(c.position + 1), c.name, str(c.labels), "retired" if c.retired else "active")
    console.print(table)
    for h in reversed(history):
        moved = f" ({h['labels_moved']} labels)" if h["labels_moved"] else ""
        to = f" -> {h['new_name']}" if h["new_name"] else ""
        console.print(f"{h['at'][:19]} {h['by']}: {h['action']} {h['old_name']}{to}{moved}", highlight=False)


@classes_app.command("add")
def classes_add(
    project: ProjectArg,
    names: Annotated[list[str], typer.Argument(help="one or more class names (a retired class is restored)")],
    by: ByOption = "cli",
) -> None:
    """Add classes at the end of the list, or put retired ones back in service."""
    from labelwise.project.classes import add_class

    for name in names:
        result = _on_project(project, lambda p, name=name: add_class(p, name, by))
        console.print(f"{result} {name}" if result else f"{name}: a class already", highlight=False)


@classes_app.command("rename")
def classes_rename(
    project: ProjectArg,
    old: Annotated[str, typer.Argument(help="the class's name now")],
    new: Annotated[str, typer.Argument(help="its new name")],
    by: ByOption = "cli",
) -> None:
    """Rename a class; its labels and every export follow the new name."""
    from labelwise.project.classes import rename_class

    _on_project(project, lambda p: rename_class(p, old, new, by))
    console.print(f"renamed {old} -> {new}", highlight=False)


@classes_app.command("merge")
def classes_merge(
    project: ProjectArg,
    source: Annotated[str, typer.Argument(help="the class that goes away")],
    into: Annotated[str, typer.Argument(help="the class that takes its labels")],
    by: ByOption = "cli",
) -> None:
    """Move every label of SOURCE to INTO and retire SOURCE (the old labels stay in the history)."""
    from labelwise.project.classes import merge_classes

    moved = _on_project(project, lambda p: merge_classes(p, source, into, by))
    console.print(f"merged {source} into {into}: {moved} labels moved", highlight=False)


@classes_app.command("retire")
def classes_retire(project: ProjectArg, name: Annotated[str, typer.Argument()], by: ByOption = "cli") -> None:
    """Stop offering a class for labeling; its labels stay (`classes add` restores it)."""
    from labelwise.project.classes import retire_class

    _on_project(project, lambda p: retire_class(p, name, by))
    console.print(f"retired {name}", highlight=False)


label_studio_app = typer.Typer(help="Drive a Label Studio project's queue with labelwise.", no_args_is_help=True)
app.add_typer(label_studio_app, name="label-studio")


@label_studio_app.command("sync")
def label_studio_sync(
    project: Annotated[Path, typer.Argument(help="the labelwise project folder (created when missing)")],
    url: Annotated[str, typer.Option(help="Label Studio's address, e.g. http://localhost:8080")],
    token: Annotated[str, typer.Option(help="a legacy API token or a personal access (refresh) token")],
    ls_project: Annotated[int, typer.Option("--ls-project", help="the Label Studio project id")],
    once: Annotated[bool, typer.Option(help="one pass, then exit")] = False,
    every: Annotated[float, typer.Option(help="seconds between passes")] = 5.0,
    backbone: Annotated[str, typer.Option(help="backbone of a new project: lite0 or squeezenet")] = "lite0",
) -> None:
    """Mirror a Label Studio classification project, retrain, and serve labelwise's ranking there."""
    from labelwise.project.label_studio import sync_forever, sync_once
    from labelwise.project.label_studio_api import LabelStudioClient

    client = LabelStudioClient(url, token)
    try:
        if once:
            report = sync_once(project, client, ls_project, backbone=backbone, force_train=True)
            console.print(report.summary, highlight=False)
            for task_id, why in report.skipped[:20]:
                console.print(f"  [yellow]skipped[/] task {task_id}: {why}", highlight=False)
        else:
            sync_forever(project, client, ls_project, every, backbone=backbone,
                         on_log=lambda line: console.print(line, highlight=False))  # fmt: skip
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


@app.command()
def serve(
    project: Annotated[Path, typer.Argument(help="the project folder")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    behind_https: Annotated[
        bool,
        typer.Option(help="served by an HTTPS reverse proxy: Secure cookies, and its X-Forwarded-Proto is trusted"),
    ] = False,
) -> None:
    """Start the annotation server: dashboard, annotate page, image grid, JSON API."""
    import uvicorn

    from labelwise.project.sessions import login_code
    from labelwise.project.users import add_user, has_admin
    from labelwise.server.app import create_app, uvicorn_protocols

    try:
        proj = _open(project)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        if not has_admin(proj):
            typer.echo(add_user(proj, "admin", "admin"))  # the permanent token, for the API: shown once
            # The link carries a one-time code (15 minutes), not the token: it may end up in a
            # browser history or a shared terminal log.
            code = login_code(proj, "admin")
            console.print(
                f"created the first admin (token above); log in with: http://{shown}:{port}/login?code={code}"
            )
        proj.close()
        server_app = create_app(project, behind_https=behind_https)
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"labelwise is serving {project} at http://{shown}:{port}/  (Ctrl-C stops)")
    # Forwarded headers (X-Forwarded-Proto/For) are honoured only behind a proxy the user named; a
    # client talking to us directly cannot claim HTTPS. timeout_keep_alive closes idle connections.
    uvicorn.run(server_app, host=host, port=port, log_level="warning", proxy_headers=behind_https,
                timeout_keep_alive=KEEP_ALIVE_S, **uvicorn_protocols())  # fmt: skip


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    build_only: Annotated[bool, typer.Option(help="build the demo project and exit")] = False,
) -> None:
    """Build (once) a project of 10,000 unlabeled Fashion-MNIST images and serve it."""
    from labelwise.demo import build_demo_project

    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TimeElapsedColumn(), console=err_console,
        ) as progress:  # fmt: skip
            task = progress.add_task("building the demo project (once)", total=None)
            folder = build_demo_project(
                on_total=lambda n: progress.update(task, total=n), on_progress=lambda k: progress.advance(task, k)
            )
    except LabelwiseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"demo project: {folder}")
    # The demo keeps its admin's token (readable by you alone) so every `make demo` prints the link;
    # real projects never store a token, only its hash.
    token_file = folder / "demo-admin-token"
    if not token_file.exists():
        from labelwise.project.users import add_user

        proj = _open(folder)
        token_file.write_text(add_user(proj, "demo-admin", "admin"))
        token_file.chmod(0o600)
        proj.close()
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    from labelwise.project.sessions import login_code

    proj = _open(folder)
    code = login_code(proj, "demo-admin")
    proj.close()
    console.print(f"log in as the demo admin (link works once, 15 minutes): http://{shown}:{port}/login?code={code}")
    if not build_only:
        serve(folder, host=host, port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
