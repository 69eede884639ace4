"""Keras 3: ``model.fit(..., callbacks=[NaiadCallback(run)])`` records the whole fit.

Under ``base_namespace`` (default ``"training"``), with neptune-tensorflow-keras's names::

    fit_params/…                 epochs, steps, verbose … (Keras ``callback.params``)
    model/optimizer_config/…     the optimizer's ``get_config()``
    model/learning_rate          the learning rate at each epoch start (series)
    train/epoch/<metric>         each epoch's training metrics (series, step = epoch)
    validation/epoch/<metric>    each epoch's ``val_`` metrics (series, step = epoch)
    train/batch/<metric>         with ``log_on_batch=True``, every training batch
    model/summary                ``model.summary()`` as a text file, at the end of training

Works with any Keras 3 backend (TensorFlow, JAX, PyTorch).  A logging problem never stops ``fit``.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import keras

from naiad.integrations.guard import Guard
from naiad.tracking.files import File


def _number(value: Any) -> float | None:
    try:
        if isinstance(value, keras.Variable):  # read its backend tensor, not the variable
            value = value.value
        if isinstance(value, (int, float)):
            out = float(value)
        elif callable(getattr(value, "item", None)):  # torch / numpy / jax scalars
            out = float(value.item())
        else:  # TensorFlow eager tensors
            out = float(value.numpy())
    except (TypeError, ValueError, RuntimeError):
        return None
    return out if math.isfinite(out) else None


def _plain(config: Any) -> Any:
    """A config dict with backend tensors turned into numbers and anything else unusual into str."""
    if isinstance(config, dict):
        return {str(k): _plain(v) for k, v in config.items()}
    if config is None or isinstance(config, (bool, int, float, str)):
        return "None" if config is None else config
    number = _number(config)
    return number if number is not None else str(config)


class NaiadCallback(keras.callbacks.Callback):
    """Log a Keras ``fit`` into ``run`` (a run or a handle such as ``run["stage1"]``)."""

    def __init__(self, run: Any, base_namespace: str = "training", log_on_batch: bool = False,
                 log_model_summary: bool = True) -> None:
        super().__init__()
        ns = base_namespace.strip("/")
        self._root = run[ns] if ns else run
        self._log_on_batch = log_on_batch
        self._log_model_summary = log_model_summary
        self._batch_step = 0
        root = run.get_root_object() if hasattr(run, "get_root_object") else run
        self._safely = Guard("Keras callback")
        self._safely(lambda: root.__setitem__("source_code/integrations/keras", keras.__version__))

    def _append(self, prefix: str, logs: dict[str, Any] | None, step: float) -> None:
        for key, value in (logs or {}).items():
            number = _number(value)
            if number is not None:
                self._root[f"{prefix}/{key}"].append(number, step=step)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        def record() -> None:
            self._root["fit_params"] = _plain(dict(self.params or {}))
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None:
                with warnings.catch_warnings():  # Keras' own get_config() trips a numpy 2 deprecation
                    warnings.simplefilter("ignore", DeprecationWarning)
                    config = optimizer.get_config()
                self._root["model/optimizer_config"] = _plain(config)

        self._safely(record)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        rate = _number(getattr(optimizer, "learning_rate", None)) if optimizer is not None else None
        if rate is not None:
            self._safely(lambda: self._root["model/learning_rate"].append(rate, step=epoch))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        self._safely(lambda: self._append("train/epoch", train, epoch))
        self._safely(lambda: self._append("validation/epoch", val, epoch))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._log_on_batch:
            step = self._batch_step
            self._batch_step += 1
            self._safely(lambda: self._append("train/batch", logs, step))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._log_model_summary or self.model is None:
            return

        def record() -> None:
            out = io.StringIO()
            self.model.summary(print_fn=lambda line, *a, **k: out.write(line + "\n"))
            self._root["model/summary"].upload(File.from_content(out.getvalue(), extension="txt"))

        self._safely(record)


class NeptuneMonitor(keras.callbacks.Callback):
    """neptune-contrib's 0.x Keras callback (``neptunecontrib.monitoring.keras``), for 0.x scripts that
    ``import naiad as neptune``: each training batch's metrics as the channel ``<prefix>batch_<metric>``,
    each epoch's (validation ones included) as ``<prefix>epoch_<metric>``, sent with ``log_metric`` to
    ``experiment`` — by default the 0.x experiment running when the callback logs.  In the run they are
    ``logs/batch_loss``, ``logs/epoch_val_accuracy`` …  A logging problem never stops ``fit``."""

    def __init__(self, experiment: Any = None, prefix: str = "") -> None:
        super().__init__()
        self._experiment = experiment
        self._prefix = prefix
        self._safely = Guard("NeptuneMonitor")

    def _log(self, trigger: str, logs: dict[str, Any] | None) -> None:
        from naiad.neptune_compat import legacy

        experiment = self._experiment if self._experiment is not None else legacy.get_experiment()
        for metric, value in (logs or {}).items():
            number = _number(value)
            if metric not in ("batch", "size") and number is not None:
                experiment.log_metric(f"{self._prefix}{trigger}_{metric}", number)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._safely(lambda: self._log("batch", logs))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._safely(lambda: self._log("epoch", logs))


__all__ = ["NaiadCallback", "NeptuneMonitor"]
