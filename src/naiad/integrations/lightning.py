"""PyTorch Lightning: ``Trainer(logger=NaiadLogger(project="defects"))``.

Under ``prefix`` (default ``"training"``), with the names Lightning's NeptuneLogger used::

    hyperparams/…                  ``save_hyperparameters()`` / ``log_hyperparams``
    <metric>                       every ``self.log(...)`` value (series; step = Lightning's global step)
    model/checkpoints/<name>       the checkpoints ModelCheckpoint keeps (``save_top_k``, ``last``);
                                   ones it deletes are deleted here too
    model/best_model_path, model/best_model_score
    status                         how the fit ended (``success``, ``failed`` …)

Lightning logs some metrics (``epoch``) from several hooks at one step; a point whose step is not
above the series' last one is skipped here instead of raising, so logging never stops training.
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from naiad.neptune_compat.utils import stringify_unsupported
from naiad.tracking.files import File
from naiad.tracking.run import init_run


class NaiadLogger(Logger):
    """A Lightning logger writing into a naiad run (its own, or ``run=`` one you opened)."""

    def __init__(self, *, run: Any = None, project: str | None = None, name: str | None = None,
                 prefix: str = "training", log_model_checkpoints: bool = True, **init_run_kwargs: Any) -> None:
        super().__init__()
        if run is not None and (project is not None or name is not None or init_run_kwargs):
            raise ValueError("give either run= (an open naiad run) or the arguments to open one, not both.")
        self._run = run
        self._owns_run = run is None
        self._init = {"project": project, "name": name, **init_run_kwargs}
        self._prefix = prefix.strip("/")
        self._log_checkpoints = log_model_checkpoints
        self._last_step: dict[str, float] = {}
        self._uploaded: dict[str, tuple[int, int]] = {}  # checkpoint name → (size, mtime) stored
        self._ident: tuple[str, str] | None = None

    # ------------------------------------------------------------------ Logger API
    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The naiad run (opened on first use)."""
        if self._run is None:
            self._run = init_run(**{k: v for k, v in self._init.items() if v is not None})
            self._run["source_code/integrations/lightning"] = _lightning_version()
        return self._run

    @property
    def name(self) -> str:
        return self._identity()[0]

    @property
    def version(self) -> str:
        return self._identity()[1]

    def _identity(self) -> tuple[str, str]:
        """The run's name and id, read once (they stay readable after the run is stopped)."""
        if self._ident is None:
            run = self.experiment
            self._ident = (str(run["sys/name"].fetch()), str(run["sys/id"].fetch()))
        return self._ident

    @property
    def save_dir(self) -> str | None:
        return None

    def _path(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment[self._path("hyperparams")] = stringify_unsupported(dict(params))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        run = self.experiment
        for key, value in metrics.items():
            path = self._path(key)
            number = float(value.item() if hasattr(value, "item") else value)
            point = float(step) if step is not None else self._last_step.get(path, -1.0) + 1.0
            if point <= self._last_step.get(path, float("-inf")):
                continue  # Lightning logs e.g. "epoch" from train and validation hooks at one step
            self._last_step[path] = point
            run[path].append(number, step=point)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._log_checkpoints:
            return
        run = self.experiment
        folder = getattr(checkpoint_callback, "dirpath", None) or ""
        keep: dict[str, str] = {}
        paths = list(getattr(checkpoint_callback, "best_k_models", {}) or {})
        for attr in ("last_model_path", "best_model_path"):
            value = getattr(checkpoint_callback, attr, "")
            if value:
                paths.append(value)
        for path in paths:
            if path and os.path.isfile(path):
                keep[_checkpoint_name(path, folder)] = path
        for name, path in keep.items():
            stat = os.stat(path)
            version = (stat.st_size, stat.st_mtime_ns)
            if self._uploaded.get(name) == version:
                continue  # kept again unchanged: already stored
            field = self._path(f"model/checkpoints/{name}")
            # a snapshot: Lightning may delete this file at its next save, before the writer reads it
            run[field].upload(File.snapshot(path, extension="ckpt"))
            self._uploaded[name] = version
        for name in sorted(set(self._uploaded) - set(keep)):  # no longer among the kept checkpoints
            del run[self._path(f"model/checkpoints/{name}")]
            del self._uploaded[name]
        best = getattr(checkpoint_callback, "best_model_path", "")
        if best:
            run[self._path("model/best_model_path")] = best
        score = getattr(checkpoint_callback, "best_model_score", None)
        if score is not None:
            run[self._path("model/best_model_score")] = float(score.item() if hasattr(score, "item") else score)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is None or self._run.get_state() != "started":
            return
        self._identity()
        self._run[self._path("status")] = status
        if self._owns_run:
            self._run.stop()
        else:
            self._run.wait()


def _checkpoint_name(path: str, folder: str) -> str:
    rel = os.path.relpath(path, folder) if folder else os.path.basename(path)
    return os.path.splitext(rel)[0].replace(os.sep, "/")


def _lightning_version() -> str:
    import lightning

    return str(lightning.__version__)


__all__ = ["NaiadLogger"]
