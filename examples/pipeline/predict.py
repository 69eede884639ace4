"""The inference code registered with every version: what the service runs.

    python predict.py weights/weights.pkl < rows.csv      # rows: precipitation,temp_max,temp_min,wind
"""

from __future__ import annotations

import pickle
import sys

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def load(weights_path: str):  # type: ignore[no-untyped-def]
    with open(weights_path, "rb") as fh:
        return pickle.load(fh)


def predict(model, features):  # type: ignore[no-untyped-def]
    """Probability of rain tomorrow (columns: dry, rain) for each row of ``features``."""
    return model.predict_proba(features[FEATURES])


if __name__ == "__main__":
    import pandas as pd

    rows = pd.read_csv(sys.stdin, names=FEATURES)
    for p in predict(load(sys.argv[1]), rows)[:, 1]:
        print(f"{p:.3f}")
