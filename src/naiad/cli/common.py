"""What the command-line modules share: the console, opening the store, naming the project, showing values."""

from __future__ import annotations

import datetime as _dt
import sys
from typing import Any

import click

from naiad.config import SETTINGS
from naiad.core import fields as F


def _console() -> Any:
    from rich.console import Console

    # piped into a file or a CI log, tables get room instead of rich's 80-column default
    return Console(width=None if sys.stdout.isatty() else 160)


def _store(uri: str | None, recover: bool = True) -> Any:
    from naiad.store import open_store

    return open_store(uri or SETTINGS.uri.get(), recover=recover)


def _project_name(store: Any, project: str | None) -> str:
    name = project or SETTINGS.project.get()
    if name:
        return name
    projects = store.list_projects()
    if len(projects) == 1:
        return str(projects[0].name)
    names = ", ".join(p.name for p in projects) or "none yet"
    raise click.UsageError(f"which project? Pass --project or set NAIAD_PROJECT (projects: {names}).")


def _size(n: float) -> str:
    """Bytes for a person: 812 B, 3.4 MiB, 1.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _show_value(fv: Any, compact: bool = False) -> str:
    v = fv.value
    if compact and fv.type == F.FLOAT_SERIES:
        return "" if v is None else f"{v:.6g}"
    if compact and fv.type == F.DATETIME and v is not None:
        return _dt.datetime.fromtimestamp(v, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if fv.type == F.DATETIME and v is not None:
        return _dt.datetime.fromtimestamp(v, tz=_dt.timezone.utc).isoformat(timespec="seconds")
    if fv.type == F.STRING_SET:
        return ", ".join(sorted(v)) if v else "(empty)"
    if fv.type == F.FLOAT_SERIES:
        last = "-" if v is None else f"{v:.6g}"
        return f"last {last} ({fv.count} points)"
    if fv.type in (F.STRING_SERIES, F.FILE_SERIES):
        text = "" if v is None else str(v)
        return f"{fv.count} entries; last: {text[:60]!r}"
    if fv.type == F.FILE:
        return f"{v.get('name') or 'file'} .{v.get('ext')} {v['size']:,} B sha256:{v['hash'][:12]}"
    if fv.type == F.FILE_SET:
        return f"{len(v)} files, {sum(r['size'] for r in v.values()):,} B"
    if fv.type == F.ARTIFACT:
        return f"{len(v.get('files', []))} files, hash {v['hash'][:16]}"
    if fv.type == F.FLOAT:
        return f"{v:.6g}"
    return str(v)


def _json_value(fv: Any) -> Any:
    if fv.type == F.STRING_SET:
        return sorted(fv.value)
    return fv.value
