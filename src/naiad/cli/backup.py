"""Backup and restore of a whole project, verified by content hashes:

    naiad export PROJECT DIR [--uri STORE]         (any store, a server included; runs may be writing)
    naiad import naiad DIR [--project NAME] [--uri STORE]
    naiad import naiad --check DIR                 (check an export against its checksums, write nothing)
"""

from __future__ import annotations

from typing import Any

import click

from naiad.cli.common import _console, _size, _store

_URI = click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")


class _Bar:
    """A rich progress bar with one task per stage (verifying, files, containers, checking)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=_console(), transient=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


@click.command("export")
@click.argument("project")
@click.argument("folder", type=click.Path(file_okay=False))
@_URI
def export_cmd(project: str, folder: str, uri: str | None) -> None:
    """Write PROJECT (runs, models, versions, files, the registry's history, gate decisions) into the new
    folder FOLDER, every file listed with its SHA-256 in FOLDER/SHA256SUMS.  Runs may go on writing: each
    is exported as it is when read."""
    from naiad.importers.export import export_project

    store = _store(uri)
    with _Bar() as bar:
        report = export_project(store, project, folder, progress=bar)
    for missing in report.missing_blobs:
        click.echo(f"warning: {missing['container']} '{missing['path']}' refers to file {missing['hash'][:16]}…, "
                   "which the store does not hold; the export keeps the reference only", err=True)
    if report.running:
        click.echo(f"note: {len(report.running)} run(s) were running and are exported as they were when read: "
                   + ", ".join(report.running[:10]) + (" …" if len(report.running) > 10 else ""), err=True)
    click.echo(f"exported {report.containers} containers ({report.fields:,} fields, {report.points:,} points) and "
               f"{report.blobs} files into {report.folder} ({_size(report.bytes)}); check it with "
               f"`naiad import naiad --check {report.folder}`.")


@click.command("naiad")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--project", "-p", help="project name to import into (default: the exported project's name)")
@click.option("--check", "check_only", is_flag=True, help="only check FOLDER against its checksums; write nothing")
@_URI
def import_naiad_cmd(folder: str, project: str | None, check_only: bool, uri: str | None) -> None:
    """Restore a project from the folder `naiad export` wrote: checked against its checksums first, ids,
    owners, stages and history kept, every value compared with the export at the end."""
    from naiad.importers.export import verify_export
    from naiad.importers.naiad import import_naiad

    if check_only:
        with _Bar() as bar:
            manifest = verify_export(folder, progress=bar)
        counts = manifest["counts"]
        click.echo(f"{folder}: every file matches SHA256SUMS; project {manifest['project']['name']!r}, "
                   f"{counts['containers']} containers, {counts['points']:,} points, {counts['blobs']} files.")
        return
    store = _store(uri)
    with _Bar() as bar:
        report = import_naiad(store, folder, project=project, progress=bar)
    for line in report.skipped:
        click.echo(f"skipped {line}")
    for line in report.problems:
        click.echo(f"warning: {line}", err=True)
    click.echo(f"imported {len(report.imported)} containers into project {report.project!r} "
               f"({len(report.skipped)} there already), {report.blobs_added} files added "
               f"({report.blobs_present} present), {report.registry_events} registry events, "
               f"{report.gate_decisions} gate decisions; read back and compared: {report.fields_checked:,} fields, "
               f"{report.points_checked:,} points.")


def register(main: click.Group, import_group: click.Group) -> None:
    main.add_command(export_cmd)
    import_group.add_command(import_naiad_cmd)
