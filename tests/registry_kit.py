"""Small helpers the registry, monitoring, gate and webhook tests share: making models and versions,
moving them, and a binary task whose accuracy is known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

import naiad

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
