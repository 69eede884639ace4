"""Small helpers the registry, monitoring, gate, webhook and UI tests share: making models and versions,
moving them, a binary task whose accuracy is known exactly, and a whole registry written into a folder
for a module's fixture."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import naiad
import naiad.store

PROJECT = "defects"  # key DEF


def new_model(key: str, versions: int = 1, project: str = PROJECT) -> list[str]:
    """A model ``DEF-<key>`` with ``versions`` versions; returns the versions' ids."""
    naiad.init_model(key=key, name=key.lower(), project=project).stop()
    ids = []
    for _ in range(versions):
        mv = naiad.init_model_version(model=f"DEF-{key}")
        ids.append(str(mv["sys/id"].fetch()))
        mv.stop()
    return ids


def promote(version: str, stage: str = "production") -> None:
    mv = naiad.init_model_version(with_id=version)
    try:
        mv.change_stage(stage)
    finally:
        mv.stop()


def controlled(n: int, right: float, seed: int) -> pd.DataFrame:
    """A binary task whose served labels are right on exactly ``round(n * right)`` rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    served = y.copy()
    wrong = rng.choice(n, n - round(n * right), replace=False)
    served[wrong] = 1 - served[wrong]
    return pd.DataFrame({"x": rng.normal(size=n), "label": y, "served": served})


@contextmanager
def writing_to(folder: Path) -> Iterator[None]:
    """The SDK writes into ``folder`` inside the block (for module fixtures, which cannot use the per-test
    ``NAIAD_URI``); afterwards its stores are closed and ``NAIAD_URI`` is what it was."""
    saved = os.environ.get("NAIAD_URI")
    os.environ["NAIAD_URI"] = str(folder)
    try:
        yield
    finally:
        for store in list(naiad.store._stores.values()):
            store.close()
        naiad.store._stores.clear()
        if saved is None:
            os.environ.pop("NAIAD_URI", None)
        else:
            os.environ["NAIAD_URI"] = saved


def shop_registry(month: Callable[..., pd.DataFrame], *, n_boot: int = 300) -> dict[str, Any]:
    """Model SHO-CLS in project "shop" (write inside :func:`writing_to`): v1 and v2 trained on
    ``month(2000, 0.9, 1)``; v1 in production, evaluated on a month like it and on one with ``x`` shifted
    by 1.5σ and accuracy down to 0.75 (degraded, drifted); then a gate v2 vs v1 on a holdout, where v2
    is right on every row: it passes and promotes v2.  ``month(n, right, seed, shift=)`` makes the data
    (:func:`controlled` plus whatever columns the caller wants profiled)."""
    from naiad.gate.promote import run_gate

    model = "SHO-CLS"
    naiad.init_model(key="CLS", name="classifier", project="shop").stop()
    train = month(2000, 0.9, 1)
    versions = []
    for _ in range(2):
        mv = naiad.init_model_version(model=model)
        versions.append(str(mv["sys/id"].fetch()))
        mv.stop()
        naiad.log_profile(versions[-1], train.drop(columns=["served"]), role="train")
    v1, v2 = versions
    with naiad.init_model_version(with_id=v1) as mv:
        mv.change_stage("production")
    first = naiad.evaluate(v1, month(600, 0.9, 2), "label", "served", dataset_role="2026-09", plots=False,
                           n_boot=n_boot)
    time.sleep(0.05)
    shifted = month(600, 0.75, 3, shift=1.5)
    second = naiad.evaluate(v1, shifted, "label", "served", dataset_role="2026-10", plots=False, n_boot=n_boot)
    holdout = month(800, 0.9, 4)
    served = {v1: holdout["served"].to_numpy(), v2: holdout["label"].to_numpy().copy()}
    gate = run_gate(model, v2, v1, holdout.drop(columns=["served"]), "label",
                    {"rules": [{"metric": "accuracy", "test": "superiority", "method": "mcnemar"}]},
                    predictions=lambda _features, version: served[version], promote="production")
    return {"model": model, "v1": v1, "v2": v2, "first": first.run, "second": second.run, "gate": gate,
            "train": train, "shifted": shifted}
