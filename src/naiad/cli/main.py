"""The ``naiad`` command line: a thin shell over the SDK.

    naiad demo                       train a small model with tracking into ./.naiad
    naiad runs ls [--query Q]        the runs table
    naiad runs show DEF-12           one run's fields
    naiad sync                       store what crashed or offline runs left in op logs
    naiad status                     the store, its projects and anything not yet stored
    naiad models … / datasets …      the model registry and dataset versions (see naiad/cli/registry.py)
    naiad monitor run|timeline|rule  production re-evaluation and degradation (see naiad/cli/monitor.py)
    naiad gate …                     promote a candidate only on evidence (see naiad/cli/gate.py)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from naiad.cli.common import _console, _json_value, _project_name, _show_value, _store
from naiad.config import SETTINGS, all_settings
from naiad.core import fields as F
from naiad.errors import NaiadError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NaiadError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="naiad")
def main() -> None:
    """naiad — experiment tracking and ML metadata, embedded in ./.naiad or served for a team."""


@main.command()
@click.option("--project", default="demo", show_default=True, help="project to track the demo runs in")
@click.option("--epochs", default=15, show_default=True, help="epochs per configuration")
@click.option("--configs", default=4, show_default=True, help="number of hyper-parameter configurations")
def demo(project: str, epochs: int, configs: int) -> None:
    """Train a small classifier (scikit-learn, digits data) under several configurations, tracked."""
    from naiad.cli.demo import run_demo

    run_demo(project=project, epochs=epochs, configs=configs, console=_console())


@main.group()
def runs() -> None:
    """List and inspect runs."""


@runs.command("ls")
@click.option("--project", "-p", help="project name (default: NAIAD_PROJECT, or the only project)")
@click.option("--query", "-q", help='filter, e.g. \'last(val/acc) > 0.9 AND sys/tags CONTAINS "resnet"\'')
@click.option("--columns", "-c", help="comma-separated field paths to show (series show their last value)")
@click.option("--sort-by", default="sys/creation_time", show_default=True)
@click.option("--asc", is_flag=True, help="ascending order (default: descending)")
@click.option("--limit", "-n", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def runs_ls(project: str | None, query: str | None, columns: str | None, sort_by: str, asc: bool,
            limit: int, as_json: bool, uri: str | None) -> None:
    """The runs table of a project."""
    store = _store(uri)
    name = _project_name(store, project)
    cols = ["sys/name", "sys/state", "sys/tags"]
    if columns:
        cols += [c.strip() for c in columns.split(",") if c.strip()]
    result = store.query_table(name, "run", query=query, columns=cols, sort_by=sort_by, ascending=asc,
                               limit=limit)
    order = ["sys/id", *dict.fromkeys(F.normalize_path(c) for c in cols)]
    shown = [c for c in order if c in result.columns] + [c for c in result.columns if c not in order]
    if as_json:
        for short_id, row in zip(result.ids, result.rows, strict=True):
            click.echo(json.dumps({"id": short_id, **{p: _json_value(fv) for p, fv in row.items()}},
                                  default=str))
        return
    from rich.table import Table

    table = Table(title=f"{name} — {len(result.ids)} run(s)" + (f" matching {query}" if query else ""))
    for col in shown:
        table.add_column(col, overflow="fold")
    for row in result.rows:
        table.add_row(*[_show_value(row[c], compact=True) if c in row else "" for c in shown])
    _console().print(table)


@runs.command("download")
@click.argument("run_id")
@click.argument("field")
@click.argument("destination", required=False)
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def runs_download(run_id: str, field: str, destination: str | None, uri: str | None) -> None:
    """Fetch a File / FileSet field of a run (hash-checked; a progress bar for big files from a server)."""
    import naiad

    if uri:
        os.environ["NAIAD_URI"] = uri
    run = naiad.init_run(with_id=run_id, mode="read-only")
    try:
        run[field].download(destination)
    finally:
        run.stop()
    click.echo(f"downloaded {run_id} {field}" + (f" to {destination}" if destination else ""))


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="print the fields as JSON")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def runs_show(run_id: str, as_json: bool, uri: str | None) -> None:
    """Every field of one run (series: last value and count; files: size and hash)."""
    store = _store(uri)
    info = store.get_container(short_id=run_id)
    values = store.read_fields(info.uuid)
    if as_json:
        click.echo(json.dumps({p: {"type": fv.type, "value": _json_value(fv), "count": fv.count}
                               for p, fv in sorted(values.items())}, default=str, indent=2))
        return
    from rich.tree import Tree

    tree = Tree(f"[bold]{info.short_id}[/bold]  project {info.project}")
    nodes: dict[str, Any] = {"": tree}
    for path in sorted(values):
        parts = path.split("/")
        for i in range(1, len(parts)):
            key = "/".join(parts[:i])
            if key not in nodes:
                nodes[key] = nodes["/".join(parts[: i - 1])].add(f"[cyan]{parts[i - 1]}/[/cyan]")
        fv = values[path]
        nodes["/".join(parts[:-1])].add(f"{parts[-1]} [dim]{fv.type}[/dim]  {_show_value(fv)}")
    _console().print(tree)


def _end_on_interrupt_or_term() -> None:
    """Ctrl-C (SIGINT) and SIGTERM end a long-running command as KeyboardInterrupt — SIGINT also when the
    process was started with it ignored, as a shell script's background job is."""
    import signal
    import threading

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)


@main.command()
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
@click.option("--offline-only", is_flag=True, help="only offline runs")
@click.option("--object", "objects", multiple=True, help="container uuid to sync (repeatable)")
@click.option("--follow", is_flag=True,
              help="keep syncing until interrupted (Ctrl-C or SIGTERM); offline runs still being written are stored as "
                   "they go")
@click.option("--interval", default=2.0, show_default=True, help="seconds between passes with --follow")
def sync(uri: str | None, offline_only: bool, objects: tuple[str, ...], follow: bool, interval: float) -> None:
    """Store what crashed runs and offline runs left in their op logs (safe to run any time).

    Each run is stored on its own: one that fails is reported and kept for the next sync, the others go on.
    Exits with status 1 when a run could not be stored."""
    import time

    from naiad.store import recover_oplogs

    store = _store(uri, recover=False)
    only = set(objects) or None
    if follow:
        _end_on_interrupt_or_term()
    synced = 0
    failing: dict[str, str] = {}  # log → the error of its latest attempt
    try:
        while True:
            for offline in ([True] if offline_only else [False, True]):
                report = recover_oplogs(store, offline=offline, only=only, follow=follow)
                for path, count in report.applied.items():
                    click.echo(f"synced {Path(path).name}: {count} batch(es)" + (" (offline run)" if offline else ""))
                    failing.pop(path, None)
                for path, count in report.followed.items():
                    if count:
                        click.echo(f"following {Path(path).name}: {count} new batch(es) (offline run still "
                                   "being written)")
                for path, err in report.failed.items():
                    if failing.get(path) != err:  # with --follow, say it once, not at every pass
                        click.echo(f"FAILED {Path(path).name}: {err}", err=True)
                    failing[path] = err
                if report.skipped and not follow:
                    click.echo(f"{len(report.skipped)} op log(s) belong to processes still running; they sync "
                               "themselves (use --follow to wait for them).")
                synced += len(report.applied) + sum(1 for n in report.followed.values() if n)
            if not follow:
                break
            time.sleep(interval)
    except KeyboardInterrupt:  # the way to end --follow
        pass
    if synced == 0 and not failing:
        click.echo("nothing to sync: every op log is stored.")
    if failing:
        click.echo(f"{len(failing)} op log(s) could not be stored; they are kept — fix the cause and run "
                   "`naiad sync` again.", err=True)
        sys.exit(1)


@main.command()
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
@click.option("--settings", "show_settings", is_flag=True, help="also list every setting and its value")
def status(uri: str | None, show_settings: bool) -> None:
    """The store, its projects, and anything not stored yet."""
    from naiad.core.oplog import is_locked

    target = uri or SETTINGS.uri.get()
    console = _console()
    folder_store = "://" not in target or target.startswith("file://")
    if folder_store and not (Path(target) / "naiad.db").exists():
        console.print(f"No naiad store at {Path(target).resolve()} yet: start a run (naiad demo) to create one.")
    else:
        store = _store(target, recover=False)
        root = Path(store.local_root)
        console.print(f"store: [bold]{store.location}[/bold]" + ("" if folder_store else f" (local op logs: {root})"))
        for proj in store.list_projects():
            n = store.count_containers(proj.name, "run")
            console.print(f"  project {proj.name} (key {proj.key}): {n} run(s)")
        live: list[Path] = []
        dead: list[Path] = []
        offline: list[Path] = []
        buckets: list[tuple[str, list[Path] | None]] = [("oplog", None), ("offline", offline)]
        for folder, bucket in buckets:
            for log in sorted((root / folder).glob("*.log")) if (root / folder).is_dir() else []:
                if bucket is not None:
                    bucket.append(log)
                elif is_locked(log):
                    live.append(log)
                else:
                    dead.append(log)
        console.print(f"writing now: {len(live)} run(s)")
        if dead or offline:
            console.print(f"[yellow]not yet stored:[/yellow] {len(dead)} op log(s) of stopped/crashed runs, "
                          f"{len(offline)} offline run(s) — run `naiad sync`.")
        else:
            console.print("everything is stored.")
    if show_settings:
        from rich.table import Table

        table = Table(title="settings")
        for col in ("variable", "value", "default", "meaning"):
            table.add_column(col, overflow="fold")
        for _name, setting in all_settings():
            value = str(setting.raw() or "")
            if setting.env == "NAIAD_API_TOKEN" and value:
                value = "(set, hidden)"
            table.add_row(setting.env, value, str(setting.default), setting.doc)
        console.print(table)


@main.group("import")
def import_() -> None:
    """Bring runs in from other tools (importing twice changes nothing)."""


@import_.command("neptune")
@click.argument("data_path", type=click.Path(exists=True, file_okay=False))
@click.option("--files-path", type=click.Path(exists=True, file_okay=False),
              help="the --files-path neptune-exporter wrote (files and file series)")
@click.option("--project", "-p", help="put every run in this project (default: each run's own project)")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def import_neptune_cmd(data_path: str, files_path: str | None, project: str | None, uri: str | None) -> None:
    """Import the Parquet files written by neptune-exporter (DATA_PATH is its --data-path)."""
    from rich.progress import Progress

    from naiad.importers.neptune import import_neptune, run_parts

    store = _store(uri)
    total = len(run_parts(Path(data_path)))
    with Progress(console=_console(), transient=True) as bar:
        task = bar.add_task("importing runs", total=total)
        report = import_neptune(store, data_path, files_path, project=project,
                                progress=lambda label: bar.update(task, advance=1, description=label))
    _print_report(report)


@import_.command("tensorboard")
@click.argument("logdir", type=click.Path(exists=True, file_okay=False))
@click.option("--project", "-p", default="tensorboard", show_default=True, help="project to import into")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def import_tensorboard_cmd(logdir: str, project: str, uri: str | None) -> None:
    """Import TensorBoard event files: one run per run directory (scalars, images, text, histograms,
    hyper-parameters)."""
    from rich.progress import Progress

    from naiad.importers.tensorboard import import_tensorboard, run_dirs

    store = _store(uri)
    with Progress(console=_console(), transient=True) as bar:
        task = bar.add_task("importing runs", total=len(run_dirs(Path(logdir).resolve())))
        report = import_tensorboard(store, logdir, project=project,
                                    progress=lambda label: bar.update(task, advance=1, description=label))
    _print_report(report)


@import_.command("mlflow")
@click.argument("tracking_uri")
@click.option("--project", "-p", help="put every run in this project (default: one project per experiment)")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def import_mlflow_cmd(tracking_uri: str, project: str | None, uri: str | None) -> None:
    """Import experiments and runs from an MLflow tracking store (sqlite:///mlflow.db, ./mlruns, http://…)."""
    from rich.progress import Progress

    from naiad.importers.mlflow import import_mlflow

    store = _store(uri)
    with Progress(console=_console(), transient=True) as bar:
        task = bar.add_task("importing runs", total=None)
        report = import_mlflow(store, tracking_uri, project=project,
                               progress=lambda label: bar.update(task, advance=1, description=label))
    _print_report(report)


def _print_report(report: Any) -> None:
    for line in report.imported:
        click.echo(f"imported {line}")
    for line in report.skipped:
        click.echo(f"skipped {line}")
    for line in report.problems:
        click.echo(f"could not map: {line}", err=True)
    click.echo(f"{len(report.imported)} run(s) imported, {len(report.skipped)} already there, "
               f"{len(report.problems)} value(s) not mapped.")


@main.group()
def projects() -> None:
    """List projects."""


@projects.command("ls")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def projects_ls(uri: str | None) -> None:
    store = _store(uri)
    for proj in store.list_projects():
        click.echo(f"{proj.key}\t{proj.name}")


def _register_team_commands() -> None:
    from naiad.cli.backup import register as register_backup
    from naiad.cli.gate import register as register_gate
    from naiad.cli.monitor import register as register_monitor
    from naiad.cli.registry import register as register_registry
    from naiad.cli.server import register
    from naiad.cli.webhooks import register as register_webhooks

    register(main)
    register_registry(main)
    register_monitor(main)
    register_gate(main)
    register_webhooks(main)
    register_backup(main, import_)


_register_team_commands()

if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
