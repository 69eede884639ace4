"""Production monitoring: each model's evaluations over time, and the rule that says it degraded.

>>> naiad.set_degradation_rule("DEF-CLS", metric="accuracy", floor=0.85, sigmas=3)
>>> naiad.fetch_evaluations("DEF-CLS")          # time, version, production then, value and CI, verdict

**Degradation rule** (per model, stored in the model's ``monitoring/rule/…`` fields): an evaluation is
*degraded* when its metric is past an absolute ``floor``, or worse than the reference level by more
than ``sigmas`` times the evaluation's own sampling error (the standard error its confidence
interval implies).  The reference is the first evaluation of the same model version (the level it
had when it went into service) unless a fixed ``reference`` value is set.  An evaluation on fewer
than ``min_rows`` rows is *insufficient*: not a verdict either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from naiad.errors import InvalidValueError
from naiad.monitoring.evaluation import EVAL_COLUMNS, Evaluation, evaluation_from_row
from naiad.monitoring.metrics import HIGHER_IS_BETTER, Metric
from naiad.store.base import MODEL, RUN, Store

if TYPE_CHECKING:
    import pandas as pd

OK, DEGRADED, INSUFFICIENT = "ok", "degraded", "insufficient data"
DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}


@dataclass(frozen=True)
class DegradationRule:
    metric: str | None = None  # None: accuracy for classifiers, rmse for regressors
    floor: float | None = None
    sigmas: float = 3.0
    reference: float | None = None  # None: the first evaluation of the same version
    min_rows: int = 30

    def metric_for(self, task: str) -> str:
        return self.metric or DEFAULT_METRIC.get(task, "accuracy")


@dataclass(frozen=True)
class Verdict:
    status: str  # ok | degraded | insufficient data
    reason: str
    metric: str
    value: float
    reference: float | None


def _model_store(model: str) -> tuple[Store, Any]:
    from naiad.tracking.container import store_for

    store, _root = store_for("read-only")
    return store, model_info(store, model)


def model_info(store: Store, model: str) -> Any:
    """The container of ``model`` in ``store``; a clear error if the id names something else."""
    info = store.get_container(short_id=model)
    if info.kind != MODEL:
        raise InvalidValueError(f"{model} is a {info.kind.replace('_', ' ')}, not a model.")
    return info


def get_degradation_rule(model: str) -> DegradationRule:
    """The model's rule (defaults where nothing was set)."""
    return rule_of(*_model_store(model))


def rule_of(store: Store, info: Any) -> DegradationRule:
    """The rule of the model ``info`` (a container of ``store``)."""
    values = {p: fv.value for p, fv in store.read_fields(info.uuid).items() if p.startswith("monitoring/rule/")}

    def num(key: str) -> float | None:
        v = values.get(f"monitoring/rule/{key}")
        return None if v is None else float(v)

    return DegradationRule(metric=values.get("monitoring/rule/metric") or None, floor=num("floor"),
                           sigmas=num("sigmas") or 3.0, reference=num("reference"),
                           min_rows=int(num("min_rows") or 30))


def set_degradation_rule(model: str, *, metric: str | None = None, floor: float | None = None, sigmas: float = 3.0,
                         reference: float | None = None, min_rows: int = 30) -> DegradationRule:
    """Set the rule ``naiad monitor`` and :func:`fetch_evaluations` judge ``model``'s evaluations by."""
    from naiad.registry.model import init_model

    if metric is not None and metric not in HIGHER_IS_BETTER:
        raise InvalidValueError(f"metric {metric!r} is not one of {', '.join(HIGHER_IS_BETTER)}.")
    if not (isinstance(sigmas, (int, float)) and sigmas > 0):
        raise InvalidValueError(f"sigmas must be a positive number (was {sigmas!r}).")
    if not (isinstance(min_rows, int) and min_rows >= 1):
        raise InvalidValueError(f"min_rows must be a positive int (was {min_rows!r}).")
    with init_model(with_id=model) as m:
        for key in ("floor", "reference", "metric"):
            if m.exists(f"monitoring/rule/{key}"):
                del m[f"monitoring/rule/{key}"]
        if metric is not None:
            m["monitoring/rule/metric"] = metric
        if floor is not None:
            m["monitoring/rule/floor"] = float(floor)
        if reference is not None:
            m["monitoring/rule/reference"] = float(reference)
        m["monitoring/rule/sigmas"] = float(sigmas)
        m["monitoring/rule/min_rows"] = int(min_rows)
    return DegradationRule(metric, floor, float(sigmas), reference, min_rows)


def judge(evaluation: Evaluation, rule: DegradationRule, reference: Evaluation | None) -> Verdict:
    """The rule applied to one evaluation (``reference``: the evaluation it is compared with, if any)."""
    name = rule.metric_for(evaluation.task)
    m = evaluation.metrics.get(name)
    if m is None:
        raise InvalidValueError(f"evaluation {evaluation.run} has no {name!r} metric (it has "
                                f"{', '.join(sorted(evaluation.metrics)) or 'none'}); set the rule's metric.")
    if evaluation.n < rule.min_rows:
        return Verdict(INSUFFICIENT, f"{evaluation.n} rows, fewer than the {rule.min_rows} the rule needs", name,
                       m.value, None)
    better = m.higher_is_better
    worse_word = "below" if better else "above"
    if rule.floor is not None and (m.value < rule.floor if better else m.value > rule.floor):
        return Verdict(DEGRADED, f"{name} {m.value:.4g} is {worse_word} the floor {rule.floor:.4g}", name, m.value,
                       rule.reference)
    ref_value = rule.reference
    if ref_value is None and reference is not None and reference.run != evaluation.run:
        ref_metric = reference.metrics.get(name)
        ref_value = ref_metric.value if ref_metric is not None else None
    if ref_value is not None:
        drop = (ref_value - m.value) if better else (m.value - ref_value)
        se = m.stderr
        if math.isfinite(se) and drop > rule.sigmas * se:
            return Verdict(DEGRADED, f"{name} {m.value:.4g} is {worse_word} the reference {ref_value:.4g} by "
                           f"{drop:.4g}, more than {rule.sigmas:g}σ ({rule.sigmas * se:.3g}) of its sampling error",
                           name, m.value, ref_value)
        return Verdict(OK, f"{name} {m.value:.4g} (reference {ref_value:.4g}, within {rule.sigmas:g}σ)", name,
                       m.value, ref_value)
    return Verdict(OK, f"{name} {m.value:.4g} (no reference yet: this is the version's first evaluation)", name,
                   m.value, None)


def list_evaluations(store: Store, project: str, model: str) -> list[Evaluation]:
    """Every evaluation of ``model``'s versions, oldest first."""
    table = store.query_table(project, RUN, query=f'`eval/model`:string = "{model}" AND `sys/trashed`:bool = false',
                              columns=EVAL_COLUMNS, sort_by="sys/creation_time", ascending=True)
    return [evaluation_from_row(rid, {p: fv.value for p, fv in row.items()})
            for rid, row in zip(table.ids, table.rows, strict=True)]


def verdicts(evaluations: list[Evaluation], rule: DegradationRule) -> list[Verdict]:
    """Each evaluation judged against the first evaluation of its own version."""
    first: dict[str, Evaluation] = {}
    out = []
    for ev in evaluations:
        ref = first.setdefault(ev.model_version, ev)
        out.append(judge(ev, rule, ref))
    return out


def timeline(store: Store, info: Any, *, metric: str | None = None) -> list[dict[str, Any]]:
    """The evaluation timeline of the model ``info``, oldest first, as records (``time`` in epoch
    seconds): what :func:`fetch_evaluations` frames and the UI's Monitoring page draws."""
    from naiad.registry.history import state_at

    rule = rule_of(store, info)
    if metric is not None:
        rule = DegradationRule(metric, rule.floor, rule.sigmas, rule.reference, rule.min_rows)
    evaluations = list_evaluations(store, info.project, info.short_id)
    events = store.registry_events(info.project, info.short_id)
    rows = []
    for ev, verdict in zip(evaluations, verdicts(evaluations, rule), strict=True):
        m: Metric | None = ev.metrics.get(verdict.metric)
        rows.append({
            "time": ev.created, "run": ev.run, "version": ev.model_version,
            "production_then": state_at(events, ev.created).holder(stage="production"),
            "dataset_role": ev.dataset_role, "dataset_hash": ev.dataset_hash, "n": ev.n, "metric": verdict.metric,
            "value": verdict.value, "ci_low": m.low if m else math.nan, "ci_high": m.high if m else math.nan,
            "status": verdict.status, "reason": verdict.reason,
            "drift": ev.drift.get("verdict"), "drift_share": ev.drift.get("share_drifted"),
        })
    return rows


TIMELINE_COLUMNS = ["time", "run", "version", "production_then", "dataset_role", "dataset_hash", "n", "metric",
                    "value", "ci_low", "ci_high", "status", "reason", "drift", "drift_share"]


def fetch_evaluations(model: str, *, metric: str | None = None) -> pd.DataFrame:
    """The model's evaluation timeline, oldest first: time, run, version, the version in production
    then, dataset role and hash, rows, the metric with its CI, and the rule's verdict and reason."""
    import pandas as pd

    store, info = _model_store(model)
    frame = pd.DataFrame(timeline(store, info, metric=metric), columns=TIMELINE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"].astype(float), unit="s", utc=True)
    return frame


def drift_rows(store: Store, info: Any) -> list[dict[str, Any]]:
    """Column drift of every evaluation of the model ``info`` (one record per evaluation and column,
    ``time`` in epoch seconds): the data of :func:`fetch_drift` and of the UI's drift heat-map."""
    model = info.short_id
    table = store.query_table(info.project, RUN, query=f'`eval/model`:string = "{model}" AND '
                              '`sys/trashed`:bool = false', columns=["eval/model_version", "drift/columns",
                                                                     "sys/creation_time"],
                              sort_by="sys/creation_time", ascending=True)
    rows = []
    for run_id, row in zip(table.ids, table.rows, strict=True):
        values = {p: fv.value for p, fv in row.items()}
        created = values.get("sys/creation_time") or 0.0
        per_column: dict[str, dict[str, Any]] = {}
        for path, value in values.items():
            if path.startswith("drift/columns/"):
                column, _, key = path[len("drift/columns/"):].rpartition("/")
                per_column.setdefault(column, {})[key] = value
        for column, found in sorted(per_column.items()):
            rows.append({"time": created, "run": run_id, "version": values.get("eval/model_version"), "column": column,
                         "test": found.get("test"), "statistic": found.get("statistic", math.nan),
                         "p_adjusted": found.get("p_adjusted", math.nan), "effect": found.get("effect"),
                         "effect_size": found.get("effect_size", math.nan), "verdict": found.get("verdict")})
    return rows


DRIFT_COLUMNS = ["time", "run", "version", "column", "test", "statistic", "p_adjusted", "effect", "effect_size",
                 "verdict"]


def fetch_drift(model: str) -> pd.DataFrame:
    """Column drift of every evaluation of ``model`` (long form: one row per evaluation and column) —
    the data of a drift heat-map: time, run, version, column, test, statistic, p_adjusted, effect,
    effect_size, verdict."""
    import pandas as pd

    frame = pd.DataFrame(drift_rows(*_model_store(model)), columns=DRIFT_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"].astype(float), unit="s", utc=True)
    return frame


def resolve_version(model: str, *, stage: str | None = None, alias: str | None = None,
                    version: str | None = None) -> str:
    """The version of ``model`` in ``stage`` / holding ``alias`` / named ``version`` (default: production)."""
    from naiad.registry.model import _choose_version, init_model

    with init_model(with_id=model, mode="read-only") as m:
        return _choose_version(m, stage, alias, version)
