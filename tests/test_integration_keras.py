"""Keras 3 integration: a real `fit` on tiny data, on the CPU (PyTorch backend: no TensorFlow needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import naiad  # noqa: E402
from naiad.integrations.keras import NaiadCallback  # noqa: E402


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 4)).astype("float32")
    return X, (X[:, 0] + X[:, 1] > 0).astype("float32")


def test_fit_records_epoch_metrics_params_optimizer_and_summary(tmp_path: Path) -> None:
    X, y = _data()
    run = naiad.init_run(project="keras")
    history = _model().fit(X, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
                           callbacks=[NaiadCallback(run)])
    loss = run["training/train/epoch/loss"].fetch_values()
    assert loss["step"].tolist() == [0.0, 1.0, 2.0]
    assert np.allclose(loss["value"], history.history["loss"])
    val = run["training/validation/epoch/accuracy"].fetch_values()["value"]
    assert np.allclose(val, history.history["val_accuracy"])
    assert run["training/fit_params/epochs"].fetch() == 3
    assert abs(run["training/model/optimizer_config/learning_rate"].fetch() - 0.01) < 1e-9
    assert run["training/model/learning_rate"].fetch_values()["value"].tolist() == pytest.approx([0.01] * 3)
    run["training/model/summary"].download(str(tmp_path / "summary.txt"))
    assert "Dense" in (tmp_path / "summary.txt").read_text()
    assert run["source_code/integrations/keras"].fetch() == keras.__version__
    run.stop()


def test_batch_logging_and_a_custom_namespace_on_a_handle() -> None:
    X, y = _data()
    run = naiad.init_run(project="keras")
    _model().fit(X, y, epochs=2, batch_size=32, verbose=0,
                 callbacks=[NaiadCallback(run["stage1"], base_namespace="fit", log_on_batch=True,
                                          log_model_summary=False)])
    batches = run["stage1/fit/train/batch/loss"].fetch_values()
    assert batches["step"].tolist() == [float(i) for i in range(8)]  # 128 / 32 batches × 2 epochs
    assert not run.exists("stage1/fit/model/summary")
    run.stop()


def test_a_logging_failure_never_stops_fit_and_is_reported_once(capsys: pytest.CaptureFixture[str]) -> None:
    X, y = _data()
    run = naiad.init_run(project="keras")
    callback = NaiadCallback(run)
    run.stop()  # every write from the callback now fails
    history = _model().fit(X, y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 2
    assert capsys.readouterr().err.count("Keras callback could not log") == 1
