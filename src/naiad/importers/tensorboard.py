"""``naiad import tensorboard LOGDIR``: TensorBoard event files, one naiad run per run directory.

A run directory is a folder holding ``events.out.tfevents.*`` files; a sub-folder that only holds
hyper-parameters (what ``SummaryWriter.add_hparams`` writes) is merged into its parent's run.
Runs are found again by ``custom_run_id = "tensorboard/<path relative to LOGDIR>"``, so importing
twice changes nothing.  Layout of each run::

    tensorboard/path                  the run directory
    tensorboard/scalar/<tag>          FloatSeries (steps, wall times)
    tensorboard/image/<tag>           FileSeries of the PNG/JPEG images
    tensorboard/text/<tag>            StringSeries
    tensorboard/histogram/<tag>       StringSeries of JSON {min, max, num, sum, sum_squares, limits, counts}
    tensorboard/hparams/<name>        the hyper-parameters (Float / String / Boolean)

Reading event files needs the ``tensorboard`` package (``pip install "naiad[tensorboard]"``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ConfigError, FileError, NaiadError
from naiad.importers.base import ImportReport, write_run
from naiad.store.base import Store

MARKER = "tensorboard/imported_from"


def run_dirs(logdir: Path) -> dict[Path, list[Path]]:
    """Run directory → the event directories merged into it (itself, and hparams-only children)."""
    if not logdir.is_dir():
        raise FileError(f"{logdir} is not a folder; give the log directory TensorBoard was started with.")
    dirs = sorted({p.parent for p in logdir.rglob("events.out.tfevents.*")})
    out: dict[Path, list[Path]] = {}
    for d in dirs:
        parent = d.parent
        if parent in out and _only_hparams(d):
            out[parent].append(d)
        else:
            out[d] = [d]
    return out


def _accumulator(path: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0,
                                                     "histograms": 0, "compressedHistograms": 0})
    acc.Reload()
    return acc


def _only_hparams(path: Path) -> bool:
    acc = _accumulator(path)
    tags = acc.Tags()
    has_hparams = bool(_hparams(acc))
    return has_hparams and not tags.get("images") and not tags.get("histograms") and not tags.get("tensors")


def _hparams(acc: Any) -> dict[str, Any]:
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}
    from tensorboard.plugins.hparams import plugin_data_pb2

    out: dict[str, Any] = {}
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            for name, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                if kind == "number_value":
                    out[name] = float(value.number_value)
                elif kind == "string_value":
                    out[name] = value.string_value
                elif kind == "bool_value":
                    out[name] = bool(value.bool_value)
    return out


def _points(path: str, ftype: str, events: list[tuple[float, float, Any]]) -> O.Op:
    events.sort(key=lambda e: e[0])
    steps = np.array([e[0] for e in events], dtype=np.float64)
    keep = np.concatenate([[True], np.diff(steps) > 0]) if len(steps) else np.zeros(0, dtype=bool)
    ts = np.array([e[1] for e in events], dtype=np.float64)[keep]
    values: Any = [e[2] for e, k in zip(events, keep, strict=True) if k]
    if ftype == F.FLOAT_SERIES:
        values = np.array(values, dtype=np.float64)
    return (O.POINTS, path, ftype, steps[keep], ts, values)


def _read_run(dirs: list[Path], blobs: Any, problems: list[str], label: str) -> tuple[list[O.Op], float | None]:
    from tensorboard.util import tensor_util

    ops: list[O.Op] = []
    first_time: float | None = None
    for d in dirs:
        acc = _accumulator(d)
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            events = [(float(e.step), e.wall_time, e.value) for e in acc.Scalars(tag) if math.isfinite(e.value)]
            if events:
                ops.append(_points(f"tensorboard/scalar/{F.normalize_path(tag)}", F.FLOAT_SERIES, events))
                first_time = min(first_time or math.inf, min(e[1] for e in events))
        for tag in tags.get("images", []):
            events = []
            for e in acc.Images(tag):
                digest, size = blobs.put_bytes(e.encoded_image_string)
                ext = "jpg" if e.encoded_image_string[:2] == b"\xff\xd8" else "png"
                ref = {"hash": digest, "size": size, "ext": ext, "name": f"{tag}-{e.step}.{ext}"}
                events.append((float(e.step), e.wall_time, json.dumps(ref)))
            if events:
                ops.append(_points(f"tensorboard/image/{F.normalize_path(tag)}", F.FILE_SERIES, events))
        for tag in tags.get("histograms", []):
            events = []
            for e in acc.Histograms(tag):
                h = e.histogram_value
                events.append((float(e.step), e.wall_time, json.dumps({
                    "min": h.min, "max": h.max, "num": h.num, "sum": h.sum, "sum_squares": h.sum_squares,
                    "limits": list(h.bucket_limit), "counts": list(h.bucket)}, separators=(",", ":"))))
            if events:
                ops.append(_points(f"tensorboard/histogram/{F.normalize_path(tag)}", F.STRING_SERIES, events))
        for tag in tags.get("tensors", []):
            name = tag[: -len("/text_summary")] if tag.endswith("/text_summary") else tag
            events = []
            for e in acc.Tensors(tag):
                array = tensor_util.make_ndarray(e.tensor_proto)
                if array.dtype.kind not in "SUO":
                    problems.append(f"{label}: tensor summary '{tag}' is not text; skipped")
                    break
                text = "\n".join(v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(array))
                events.append((float(e.step), e.wall_time, text))
            if events:
                ops.append(_points(f"tensorboard/text/{F.normalize_path(name)}", F.STRING_SERIES, events))
        for name, value in _hparams(acc).items():
            ftype = F.BOOLEAN if isinstance(value, bool) else F.FLOAT if isinstance(value, float) else F.STRING
            ops.append((O.ASSIGN, f"tensorboard/hparams/{F.normalize_path(name)}", ftype, value))
    return ops, None if first_time in (None, math.inf) else first_time


def import_tensorboard(store: Store, logdir: str | Path, *, project: str,
                       progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import every run directory under ``logdir`` into ``project``; runs imported before are skipped."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("reading TensorBoard logs needs the tensorboard package: "
                          "pip install \"naiad[tensorboard]\"") from None
    root = Path(logdir).resolve()
    report = ImportReport()
    for run_dir, dirs in run_dirs(root).items():
        rel = run_dir.relative_to(root).as_posix() if run_dir != root else "."
        if progress is not None:
            progress(rel)
        try:
            ops, created = _read_run(dirs, store.blobs, report.problems, rel)
            ops.append((O.ASSIGN, "tensorboard/path", F.STRING, str(run_dir)))
            write_run(store, report, project=project, source_id=f"tensorboard/{rel}", marker=MARKER,
                      label=rel, ops=ops, created=created)
        except (NaiadError, OSError, ValueError) as exc:  # one broken run never stops the rest
            report.problems.append(f"{rel}: not imported ({exc})")
    return report


__all__ = ["import_tensorboard"]
