"""``naiad import mlflow TRACKING_URI``: experiments and runs from an MLflow tracking store.

Reads through MLflow's own client (``pip install "naiad[mlflow]"``), so a SQLite database
(``sqlite:///mlflow.db``), a file store (``./mlruns``) or a tracking server all work.  Each run
becomes a naiad run, found again by ``custom_run_id = "mlflow/<run id>"`` (importing twice changes
nothing), in ``--project`` or in a project named after its experiment::

    parameters/<key>          params (numbers when the text is exactly a number, else String)
    metrics/<key>             every metric's full history (FloatSeries; MLflow step, timestamp)
    mlflow/tags/<key>         every tag, MLflow's own ``mlflow.*`` ones included
    mlflow/experiment, mlflow/run_id, mlflow/status, mlflow/artifact_uri
    artifacts                 every artifact file (FileSet; bytes copied into the blob store)

The name, description (``mlflow.note.content``), start time and status (failed / finished) of
the run land in ``sys/``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ConfigError, NaiadError
from naiad.importers.base import ImportReport, write_run
from naiad.store.base import Store

MARKER = "mlflow/imported_from"
_STATES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}


def _param(text: str) -> tuple[str, Any]:
    """A number when the text is exactly that number's own spelling, else the text."""
    try:
        if str(int(text)) == text:
            return F.INTEGER, int(text)
    except ValueError:
        pass
    try:
        number = float(text)
        if repr(number) == text:
            return F.FLOAT, number
    except ValueError:
        pass
    return F.STRING, text


def _metric_op(path: str, history: list[Any], problems: list[str], label: str) -> O.Op | None:
    points = sorted(((m.step, m.timestamp, m.value) for m in history), key=lambda p: (p[0], p[1]))
    steps = np.array([p[0] for p in points], dtype=np.float64)
    values = np.array([p[2] for p in points], dtype=np.float64)
    keep = np.concatenate([steps[1:] > steps[:-1], [True]]) if len(steps) else np.zeros(0, dtype=bool)
    keep &= np.isfinite(values)  # the last value logged at a step wins, as MLflow's UI shows it
    if not keep.all():
        problems.append(f"{label}: '{path}': {int((~keep).sum())} value(s) at a repeated step or not finite "
                        "were skipped (a series keeps one value per step)")
    if not keep.any():
        return None
    ts = np.array([p[1] for p in points], dtype=np.float64) / 1000.0
    return (O.POINTS, path, F.FLOAT_SERIES, steps[keep], ts[keep], values[keep])


def _artifacts(client: Any, run_id: str, blobs: Any) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if not client.list_artifacts(run_id):
        return files
    with tempfile.TemporaryDirectory(prefix="naiad-mlflow-") as tmp:
        local = Path(client.download_artifacts(run_id, "", tmp))
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            digest, size = blobs.put_file(path)
            files[path.relative_to(local).as_posix()] = {"hash": digest, "size": size,
                                                         "mtime": os.path.getmtime(path)}
    return files


def import_mlflow(store: Store, tracking_uri: str, *, project: str | None = None,
                  progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import every run of every experiment at ``tracking_uri``; runs imported before are skipped."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("importing from MLflow needs the mlflow client: pip install \"naiad[mlflow]\"") from None
    client = MlflowClient(tracking_uri=tracking_uri)
    report = ImportReport()
    for experiment in client.search_experiments():
        token = None
        while True:
            page = client.search_runs([experiment.experiment_id], max_results=500, page_token=token)
            for run in page:
                label = f"{experiment.name}/{run.info.run_id}"
                if progress is not None:
                    progress(label)
                try:
                    _import_run(store, client, experiment, run, project, report, label)
                except (NaiadError, OSError, ValueError) as exc:  # one broken run never stops the rest
                    report.problems.append(f"{label}: not imported ({exc})")
            token = page.token
            if not token:
                break
    return report


def _import_run(store: Store, client: Any, experiment: Any, run: Any, project: str | None,
                report: ImportReport, label: str) -> None:
    info, data = run.info, run.data
    ops: list[O.Op] = []
    for key, text in sorted(data.params.items()):
        ftype, value = _param(str(text))
        ops.append((O.ASSIGN, F.normalize_path(f"parameters/{key}"), ftype, value))
    for key in sorted(data.metrics):
        op = _metric_op(F.normalize_path(f"metrics/{key}"), client.get_metric_history(info.run_id, key),
                        report.problems, label)
        if op is not None:
            ops.append(op)
    for key, value in sorted(data.tags.items()):
        ops.append((O.ASSIGN, F.normalize_path(f"mlflow/tags/{key}"), F.STRING, str(value)))
    name = data.tags.get("mlflow.runName") or getattr(info, "run_name", None)
    if name:
        ops.append((O.ASSIGN, "sys/name", F.STRING, str(name)))
    if data.tags.get("mlflow.note.content"):
        ops.append((O.ASSIGN, "sys/description", F.STRING, data.tags["mlflow.note.content"]))
    ops += [
        (O.ASSIGN, "mlflow/experiment", F.STRING, experiment.name),
        (O.ASSIGN, "mlflow/run_id", F.STRING, info.run_id),
        (O.ASSIGN, "mlflow/status", F.STRING, info.status),
        (O.ASSIGN, "mlflow/artifact_uri", F.STRING, str(info.artifact_uri or "")),
    ]
    files = _artifacts(client, info.run_id, store.blobs)
    if files:
        ops.append((O.FILES, "artifacts", files, True))
    state = _STATES.get(info.status, "finished")
    if state == "failed":
        ops.append((O.ASSIGN, "sys/failed", F.BOOLEAN, True))
    write_run(store, report, project=project or experiment.name, source_id=f"mlflow/{info.run_id}",
              marker=MARKER, label=label, ops=ops, state=state,
              created=info.start_time / 1000.0 if info.start_time else None, owner=str(info.user_id or ""))


__all__ = ["import_mlflow"]
