"""Optuna: ``study.optimize(objective, callbacks=[NaiadOptunaCallback(run)])``.

One run per study (default): every finished trial adds a point (step = trial number) to
``trials/value`` and ``best/value``, its parameters and state land under ``trials/<number>/…``, and
``best/params`` / ``best/trial`` follow the best trial.  With ``run_per_trial=True`` each trial also
gets its own run in ``project`` (tagged with the study name) holding its parameters and value, so
trials can be compared in the runs table.
"""

from __future__ import annotations

import math
from typing import Any

from naiad.integrations.guard import Guard
from naiad.tracking.run import init_run


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}


class NaiadOptunaCallback:
    """Record an Optuna study in ``run`` (see the module docstring for the layout)."""

    def __init__(self, run: Any, base_namespace: str = "", *, run_per_trial: bool = False,
                 project: str | None = None) -> None:
        ns = base_namespace.strip("/")
        self.root = run[ns] if ns else run
        self.run_per_trial = run_per_trial
        self.project = project
        self._guard = Guard("Optuna callback", "the study goes on")

    def __call__(self, study: Any, trial: Any) -> None:
        self._guard(lambda: self._record(study, trial))

    def _record(self, study: Any, trial: Any) -> None:
        root = self.root
        root["study/name"] = study.study_name
        root["study/direction"] = ", ".join(d.name.lower() for d in study.directions)
        base = f"trials/{trial.number}"
        root[f"{base}/state"] = trial.state.name.lower()
        if trial.params:
            root[f"{base}/params"] = _plain(trial.params)
        value = trial.value if trial.values is not None and len(trial.values) == 1 else None
        if value is not None and math.isfinite(value):
            root[f"{base}/value"] = float(value)
            root["trials/value"].append(float(value), step=trial.number)
        try:
            best = study.best_trial
        except ValueError:  # no finished trial yet (or a multi-objective study)
            best = None
        if best is not None and best.value is not None and math.isfinite(best.value):
            root["best/value"].append(float(best.value), step=trial.number)
            root["best/trial"] = best.number
            if best.params:
                root["best/params"] = _plain(best.params)
        if self.run_per_trial and value is not None:
            with init_run(project=self.project, name=f"{study.study_name}-trial-{trial.number}",
                                tags=[study.study_name, "optuna"], capture_stdout=False, capture_stderr=False,
                                capture_hardware_metrics=False) as trial_run:
                trial_run["params"] = _plain(trial.params)
                trial_run["value"] = float(value)
                trial_run["trial"] = trial.number


__all__ = ["NaiadOptunaCallback"]
