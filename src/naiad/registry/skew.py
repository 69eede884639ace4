"""Profiles stored with runs and model versions, and training–serving skew.

- ``naiad.log_profile(container, data, role="serving")`` profiles a batch and merges it into the
  container's ``profiles/<role>`` (a JSON File), so a service can call it per batch;
  ``naiad.read_profile(container, role)`` reads one back.  ``register_model_version`` stores the
  training data's profile as ``profiles/train``.
- **Distribution skew**: ``naiad.distribution_skew("DEF-CLS-3")`` compares the serving profile with the
  training profile by the drift rules (:mod:`naiad.data.drift`).
- **Feature skew**: ``naiad.feature_skew(serving, recomputed, key="request_id")`` — the share of rows
  whose value differs, per feature, between what the service logged and what the training pipeline
  computes for the same requests.
- **Code skew**: ``naiad.code_skew("DEF-CLS-3", "/srv/app/inference")`` — files of the version's
  inference code whose content hash differs from what the service runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from naiad.data.drift import DriftReport, compare
from naiad.data.profile import Profile
from naiad.errors import InvalidValueError, MissingFieldError
from naiad.registry.profiles import read_stored, store_profile

if TYPE_CHECKING:
    import pandas as pd

    from naiad.tracking.container import Container


def _open(target: Any, mode: str) -> tuple[Container, bool]:
    """An open container for ``target`` (a container, or a run / model version id); True if opened here."""
    from naiad.registry.model import init_model_version
    from naiad.tracking.container import Container
    from naiad.tracking.run import init_run

    if isinstance(target, Container):
        return target, False
    if not isinstance(target, str):
        raise InvalidValueError(f"pass a run, a model version or its id (was {type(target).__name__}).")
    from naiad.store.base import MODEL_VERSION
    from naiad.tracking.container import store_for

    if store_for("read-only")[0].get_container(short_id=target).kind == MODEL_VERSION:  # the store says what it is
        return init_model_version(with_id=target, mode=mode), True
    return init_run(with_id=target, mode=mode, capture_hardware_metrics=False, capture_stdout=False,
                          capture_stderr=False), True


def read_profile(target: Any, role: str) -> Profile:
    """The profile stored as ``profiles/<role>`` of a run or model version."""
    container, opened = _open(target, "read-only")
    try:
        return read_stored(container, role)
    finally:
        if opened:
            container.stop()


def log_profile(target: Any, data: Any, *, role: str = "serving", merge: bool = True) -> Profile:
    """Profile ``data`` (a DataFrame or CSV/Parquet path) and store it as ``profiles/<role>`` of ``target``
    (merged into what is there unless ``merge=False``); returns the stored profile."""
    container, opened = _open(target, "async")
    try:
        return store_profile(container, data, role=role, merge=merge)
    finally:
        if opened:
            container.stop()


def distribution_skew(version: Any, *, serving: str = "serving", training: str = "train",
                      **rules: Any) -> DriftReport:
    """The serving profile of a model version against its training profile, by the drift rules
    (``rules``: ``alpha``, ``numeric_floor``, ``categorical_floor``, ``min_rows``, ``share``)."""
    container, opened = _open(version, "read-only")
    try:
        return compare(read_stored(container, training), read_stored(container, serving), **rules)
    finally:
        if opened:
            container.stop()


def feature_skew(serving: pd.DataFrame, recomputed: pd.DataFrame, *, key: str,
                 features: list[str] | None = None, tolerance: float = 1e-9) -> pd.DataFrame:
    """Per feature: rows compared, rows whose values differ (numbers beyond a relative ``tolerance``;
    missing on one side only counts as a difference), and that share.  Rows are matched on ``key``."""
    import numpy as np
    import pandas as pd

    for name, frame in (("serving", serving), ("recomputed", recomputed)):
        if key not in frame.columns:
            raise InvalidValueError(f"the {name} data has no key column {key!r}.")
    cols = features or [c for c in serving.columns if c != key and c in recomputed.columns]
    joined = serving[[key, *cols]].merge(recomputed[[key, *cols]], on=key, suffixes=("_serving", "_training"))
    rows = []
    for col in cols:
        a, b = joined[f"{col}_serving"], joined[f"{col}_training"]
        both_missing = a.isna() & b.isna()
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            close = np.isclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=tolerance, atol=tolerance)
            differ = ~(close | both_missing.to_numpy())
        else:
            differ = ~((a.astype(str) == b.astype(str)) | both_missing).to_numpy()
        n = len(joined)
        rows.append({"feature": col, "rows": n, "mismatches": int(differ.sum()),
                     "mismatch_rate": float(differ.sum()) / n if n else math.nan})
    return pd.DataFrame(rows, columns=["feature", "rows", "mismatches", "mismatch_rate"])


def code_skew(version: Any, running: str | os.PathLike[str] | dict[str, str]) -> dict[str, dict[str, str | None]]:
    """Files of the version's ``inference`` code whose SHA-256 differs from the code the service runs
    (a folder, or ``{relative path: sha256}`` as the service reports it).  Empty: no skew."""
    from naiad.store.blobs import hash_file

    container, opened = _open(version, "read-only")
    try:
        if not container.exists("inference"):
            raise MissingFieldError(f"{container._label()} has no 'inference' code to compare with.")
        stored = {name: ref["hash"] for name, ref in
                  container._read_values(["inference"])["inference"].value.items()}
    finally:
        if opened:
            container.stop()
    if isinstance(running, dict):
        actual: dict[str, str] = dict(running)
    else:
        root = Path(running)
        actual = {p.relative_to(root).as_posix(): hash_file(p)[0] for p in sorted(root.rglob("*"))
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    stored, actual = _relative(stored), _relative(actual)
    out: dict[str, dict[str, str | None]] = {}
    for name in sorted(set(stored) | set(actual)):
        if stored.get(name) != actual.get(name):
            out[name] = {"registered": stored.get(name), "running": actual.get(name)}
    return out


def _relative(files: dict[str, str]) -> dict[str, str]:
    """Names without the folders all of them share (``serve/predict.py`` and ``predict.py`` compare equal)."""
    parts = [name.split("/") for name in files]
    common = 0
    while parts and all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {"/".join(p[common:]): digest for p, digest in zip(parts, files.values(), strict=True)}
