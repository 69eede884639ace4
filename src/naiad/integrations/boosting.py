"""Gradient boosting: callbacks for LightGBM and XGBoost training.

>>> lgb.train(params, train_set, valid_sets=[valid], callbacks=[lightgbm_callback(run)])
>>> xgb.train(params, dtrain, evals=[(dvalid, "valid")], callbacks=[xgboost_callback(run)])

Under ``base_namespace`` (default ``"training"``)::

    params/…                    the booster's parameters (first iteration)
    <dataset>/<metric>          every evaluation result, one point per boosting round (step = round)
    (after training, ``log_booster``)
    feature_importance/<name>   gain-based importance of every feature
    model                       the booster saved in its native format (LightGBM text / XGBoost JSON)

Each framework is imported only by the function that needs it; a logging problem never stops training.
"""

from __future__ import annotations

import math
from typing import Any

from naiad.integrations.guard import Guard
from naiad.neptune_compat.utils import stringify_unsupported
from naiad.tracking.files import File


class _Logger:
    def __init__(self, run: Any, base_namespace: str) -> None:
        ns = base_namespace.strip("/")
        self.root = run[ns] if ns else run
        self.params_logged = False
        self.safely = Guard("boosting callback")

    def params(self, params: dict[str, Any]) -> None:
        if not self.params_logged:
            self.params_logged = True
            self.safely(lambda: self.root.__setitem__("params", stringify_unsupported(dict(params))))

    def metric(self, dataset: str, name: str, value: float, step: int) -> None:
        if value is not None and math.isfinite(value):
            self.safely(lambda: self.root[f"{dataset}/{name}"].append(float(value), step=step))


def lightgbm_callback(run: Any, base_namespace: str = "training") -> Any:
    """A LightGBM callback (``callbacks=[...]`` of ``lgb.train`` or ``LGBMModel.fit``)."""
    logger = _Logger(run, base_namespace)

    def callback(env: Any) -> None:
        logger.params(env.params or {})
        for item in env.evaluation_result_list or []:
            dataset, name, value = item[0], item[1], item[2]
            logger.metric(dataset, name, value, env.iteration)

    callback.order = 30  # type: ignore[attr-defined]  # after LightGBM's own evaluation callbacks
    return callback


def xgboost_callback(run: Any, base_namespace: str = "training") -> Any:
    """An XGBoost ``TrainingCallback`` (``callbacks=[...]`` of ``xgb.train`` or an sklearn wrapper)."""
    import xgboost

    logger = _Logger(run, base_namespace)

    class Callback(xgboost.callback.TrainingCallback):
        def before_training(self, model: Any) -> Any:
            try:
                config = model.save_config()
                import json

                learner = json.loads(config).get("learner", {})
                logger.params({"learner": learner.get("learner_train_param", {}),
                               "objective": learner.get("objective", {}).get("name", "")})
            except Exception:
                logger.params({})
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
            for dataset, metrics in evals_log.items():
                for name, values in metrics.items():
                    last = values[-1]
                    logger.metric(dataset, name, float(last[0] if isinstance(last, tuple) else last), epoch)
            return False  # never asks training to stop

    return Callback()


def log_booster(run: Any, booster: Any, base_namespace: str = "training") -> None:
    """After training: feature importance (gain) and the model file of a LightGBM or XGBoost booster."""
    ns = base_namespace.strip("/")
    root = run[ns] if ns else run
    module = type(booster).__module__
    if module.startswith("lightgbm"):
        names = booster.feature_name()
        gains = booster.feature_importance(importance_type="gain")
        root["feature_importance"] = {n: float(g) for n, g in zip(names, gains, strict=True)}
        root["model"].upload(File.from_content(booster.model_to_string(), extension="txt"))
    elif module.startswith("xgboost"):
        root["feature_importance"] = {n: float(g) for n, g in booster.get_score(importance_type="gain").items()}
        raw = booster.save_raw(raw_format="json")
        root["model"].upload(File.from_content(bytes(raw), extension="json"))
    else:
        raise TypeError(f"log_booster() takes a LightGBM or XGBoost booster, not a {type(booster).__name__}.")


__all__ = ["lightgbm_callback", "log_booster", "xgboost_callback"]
