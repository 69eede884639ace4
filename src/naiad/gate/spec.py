"""A gate's spec — its rules, read from YAML or JSON and checked — and the results a gate records:
each rule's verdict and the decision (see :mod:`naiad.gate.promote` for the spec's format)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from naiad.errors import InvalidValueError
from naiad.gate import paired
from naiad.monitoring.metrics import HIGHER_IS_BETTER

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient data"

_RULE_KEYS = {"metric", "value", "change", "test", "margin", "method", "confidence", "resamples", "seed", "direction"}


# ------------------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class Rule:
    metric: str
    kind: str  # value | change | test
    lower: float | None = None
    upper: float | None = None
    absolute: float | None = None
    relative: float | None = None
    higher_is_better: bool = True
    test: str = "superiority"
    margin: float = 0.0
    method: str = "bootstrap"
    confidence: float = 0.95
    resamples: int = 10_000
    seed: int = 0

    def describe(self) -> str:
        if self.kind == "value":
            parts = ([f"≥ {self.lower:g}"] if self.lower is not None else []) + \
                    ([f"≤ {self.upper:g}"] if self.upper is not None else [])
            return "value " + " and ".join(parts)
        if self.kind == "change":  # shown oriented, like the report's Δ: positive = the candidate is better
            flip = 1 if self.higher_is_better else -1
            parts = ([f"Δ ≥ {flip * self.absolute + 0.0:+g}"] if self.absolute is not None else []) + \
                    ([f"Δ/baseline ≥ {flip * self.relative + 0.0:+.2%}"] if self.relative is not None else [])
            return "change " + " and ".join(parts)
        what = "superiority" if self.test == "superiority" else f"non-inferiority (margin {self.margin:g})"
        return f"{what}, {self.method}, {self.confidence:.0%} CI"


def _num(rule: dict[str, Any], key: str, where: str) -> float | None:
    value = rule.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValueError(f"{where}: {key} must be a number (was {value!r}).")
    return float(value)


def parse_spec(spec: dict[str, Any]) -> tuple[list[Rule], int]:
    """The rules of a gate spec and its ``min_rows``; a clear error for anything it does not understand."""
    if not isinstance(spec, dict):
        raise InvalidValueError("a gate spec is a mapping with a 'rules' list.")
    unknown = set(spec) - {"rules", "min_rows"}
    if unknown:
        raise InvalidValueError(f"unknown key(s) in the gate spec: {', '.join(sorted(unknown))} (known: rules, "
                                "min_rows).")
    min_rows = spec.get("min_rows", 30)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidValueError(f"min_rows must be a positive integer (was {min_rows!r}).")
    rules = []
    for i, raw in enumerate(spec.get("rules") or []):
        where = f"rule {i + 1}"
        if not isinstance(raw, dict):
            raise InvalidValueError(f"{where}: a rule is a mapping with 'metric' and one of value/change/test.")
        extra = set(raw) - _RULE_KEYS
        if extra:
            raise InvalidValueError(f"{where}: unknown key(s) {', '.join(sorted(extra))}.")
        metric = raw.get("metric")
        if metric not in HIGHER_IS_BETTER:
            raise InvalidValueError(f"{where}: metric {metric!r} is not one of {', '.join(HIGHER_IS_BETTER)}.")
        kinds = [k for k in ("value", "change", "test") if k in raw]
        if len(kinds) != 1:
            raise InvalidValueError(f"{where}: give exactly one of value, change and test (got "
                                    f"{', '.join(kinds) or 'none'}).")
        kind = kinds[0]
        direction = raw.get("direction")
        if direction not in (None, "higher_is_better", "lower_is_better"):
            raise InvalidValueError(f"{where}: direction must be higher_is_better or lower_is_better.")
        higher = HIGHER_IS_BETTER[metric] if direction is None else direction == "higher_is_better"
        if kind == "value":
            bounds = raw["value"] if isinstance(raw["value"], dict) else {}
            if set(bounds) - {"lower", "upper"} or not bounds:
                raise InvalidValueError(f"{where}: value takes lower and/or upper, e.g. value: {{lower: 0.85}}.")
            lower, upper = _num(bounds, "lower", where), _num(bounds, "upper", where)
            if lower is None and upper is None:  # `value: {lower: }` would be a rule that always passes
                raise InvalidValueError(f"{where}: value needs a number for lower and/or upper.")
            rules.append(Rule(metric, kind, lower=lower, upper=upper, higher_is_better=higher))
        elif kind == "change":
            change = raw["change"] if isinstance(raw["change"], dict) else {}
            if set(change) - {"absolute", "relative"} or not change:
                raise InvalidValueError(f"{where}: change takes absolute and/or relative, e.g. change: "
                                        "{absolute: -0.01}.")
            absolute, relative = _num(change, "absolute", where), _num(change, "relative", where)
            if absolute is None and relative is None:
                raise InvalidValueError(f"{where}: change needs a number for absolute and/or relative.")
            rules.append(Rule(metric, kind, absolute=absolute, relative=relative, higher_is_better=higher))
        else:
            test = raw["test"]
            if test not in ("superiority", "non-inferiority"):
                raise InvalidValueError(f"{where}: test must be superiority or non-inferiority (was {test!r}).")
            margin = _num(raw, "margin", where) or 0.0
            if test == "non-inferiority" and not margin > 0:
                raise InvalidValueError(f"{where}: a non-inferiority test needs a positive margin.")
            if test == "superiority" and "margin" in raw:
                raise InvalidValueError(f"{where}: margin applies to non-inferiority tests only (superiority means "
                                        "the interval lies above 0).")
            method = raw.get("method", "bootstrap")
            if method not in paired.METHODS:
                raise InvalidValueError(f"{where}: method must be one of {', '.join(paired.METHODS)}.")
            given = _num(raw, "confidence", where)
            confidence = 0.95 if given is None else given
            if not 0.5 < confidence < 1:
                raise InvalidValueError(f"{where}: confidence must be between 0.5 and 1 (was {confidence}).")
            resamples = raw.get("resamples", 10_000)
            seed = raw.get("seed", 0)
            if not (isinstance(resamples, int) and not isinstance(resamples, bool) and 100 <= resamples <= 1_000_000
                    and isinstance(seed, int) and not isinstance(seed, bool)):
                raise InvalidValueError(f"{where}: resamples must be an integer from 100 to 1,000,000 and seed an "
                                        "integer.")
            rules.append(Rule(metric, kind, higher_is_better=higher, test=test, margin=margin, method=method,
                              confidence=confidence, resamples=resamples, seed=seed))
    return rules, min_rows


def load_spec(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The spec as a mapping, and its text (stored with the decision)."""
    text = Path(path).read_text()
    try:
        if str(path).endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # JSON and YAML parse errors alike (yaml.YAMLError is no ValueError)
        raise InvalidValueError(f"{os.fspath(path)} is not a valid gate spec: {exc}") from None
    return data or {}, text


# ------------------------------------------------------------------------------------------ results
@dataclass
class RuleResult:
    index: int
    metric: str
    kind: str
    description: str
    verdict: str  # pass | fail | skipped (no baseline) | missing (metric not computed)
    detail: str
    candidate: float | None = None
    baseline: float | None = None
    delta: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    method: str | None = None


@dataclass
class GateResult:
    model: str
    candidate: str
    baseline: str | None
    dataset_hash: str
    n: int
    verdict: str
    reason: str
    rules: list[RuleResult]
    evaluations: dict[str, str]
    spec: dict[str, Any]
    context: dict[str, str] = field(default_factory=dict)
    training_drift: dict[str, Any] | None = None
    run: str | None = None
    decision_id: int | None = None  # the store's record of it: what a promotion policy reads
    reused: list[str] = field(default_factory=list)  # roles whose stored evaluation (same data, predictions) served
    promoted: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = [asdict(r) for r in self.rules]
        return out


def oriented(rule: Rule, cand: float, base: float) -> float:
    return (cand - base) if rule.higher_is_better else (base - cand)


def check_value(rule: Rule, cand: float) -> tuple[bool, str]:
    ok = (rule.lower is None or cand >= rule.lower) and (rule.upper is None or cand <= rule.upper)
    return ok, f"{rule.metric} {cand:.4g} {'within' if ok else 'outside'} {rule.describe()[len('value '):]}"


def check_change(rule: Rule, cand: float, base: float) -> tuple[bool, str]:
    change = cand - base
    ok = True
    if rule.absolute is not None:
        ok &= change >= rule.absolute if rule.higher_is_better else change <= rule.absolute
    rel = change / abs(base) if base else math.copysign(math.inf, change) if change else 0.0
    if rule.relative is not None:
        ok &= rel >= rule.relative if rule.higher_is_better else rel <= rule.relative
    flip = 1 if rule.higher_is_better else -1
    return ok, f"Δ {flip * change:+.4g} ({flip * rel:+.2%} of the baseline); {rule.describe()}"


