"""``naiad gate``: promote a retrained model only when the evidence says it is better.

The candidate and the baseline are evaluated (or their stored evaluations reused) on the identical
dataset hash, then judged by the rules of a spec (YAML or JSON)::

    min_rows: 200
    rules:
      - metric: accuracy
        value: {lower: 0.85}                    # inclusive bounds: lower and/or upper
      - metric: log_loss
        change: {absolute: 0.01}                # TFX semantics: for a lower-is-better metric the
                                                # candidate may be worse by at most 0.01 (relative: too)
      - metric: accuracy
        test: superiority                       # CI_low(Δ) > 0 — or non-inferiority: CI_low(Δ) > −margin
        method: mcnemar                         # bootstrap (default) | mcnemar | delong
        confidence: 0.95
        resamples: 10000
        seed: 0

Safety: a spec without rules never passes; a rule whose metric was not computed fails; without a
baseline only value rules apply (and the result says so), and a gate left with no applicable rule
does not pass.  The decision — candidate, baseline, dataset hash, spec, every rule's result, who ran
it, the commit and the CI run — is stored as a run tagged ``gate`` and written as JSON and Markdown.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from naiad.errors import ConfigError, IntegrityError, InvalidValueError
from naiad.gate import paired
from naiad.monitoring.evaluation import evaluate
from naiad.monitoring.metrics import HIGHER_IS_BETTER
from naiad.registry.model import init_model_version
from naiad.tracking.files import File
from naiad.tracking.run import init_run

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient data"

_RULE_KEYS = {"metric", "value", "change", "test", "margin", "method", "confidence", "resamples", "seed", "direction"}
REPORT_TAG = "<!-- naiad-gate:{model} -->"


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
    promoted: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = [asdict(r) for r in self.rules]
        return out


def _oriented(rule: Rule, cand: float, base: float) -> float:
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


# ------------------------------------------------------------------------------------------ running it
def _ci_context() -> dict[str, str]:
    """Who and what ran the gate: commit and CI run from the usual CI variables (or git)."""
    env = os.environ
    commit = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("BUILD_VCS_NUMBER") or ""
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                    check=False).stdout.strip()
        except OSError:
            commit = ""
    url = ""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        url = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}/actions/runs/" \
              f"{env['GITHUB_RUN_ID']}"
    url = url or env.get("CI_JOB_URL", "") or env.get("BUILD_URL", "")
    from naiad.tracking.container import default_owner

    return {"commit": commit, "ci_url": url, "actor": env.get("GITHUB_ACTOR") or env.get("GITLAB_USER_LOGIN")
            or default_owner()}


def _predictions_of(evaluation_run: str) -> Any:
    import pandas as pd


    run = init_run(with_id=evaluation_run, mode="read-only")
    try:
        classes = json.loads(run["eval/classes"].fetch()) if run.exists("eval/classes") else None
        with tempfile.TemporaryDirectory(prefix="naiad-gate-") as tmp:
            target = os.path.join(tmp, "predictions.parquet")
            run["predictions"].download(target)
            frame = pd.read_parquet(target)
    finally:
        run.stop()
    return frame.sort_values("row").reset_index(drop=True), classes


def _paired_inputs(frame_c: Any, frame_b: Any, classes: list[str] | None, task: str) -> dict[str, Any]:
    if len(frame_c) != len(frame_b) or not np.array_equal(frame_c["target"].astype(str), frame_b["target"].astype(str)):
        raise IntegrityError("the two evaluations' stored targets differ row by row although their dataset hash is "
                             "the same; evaluate again with force=True.")
    if task == "regression":
        return {"y": frame_c["target"].to_numpy(float), "c": frame_c["prediction"].to_numpy(float),
                "b": frame_b["prediction"].to_numpy(float)}
    names = classes or sorted({str(v) for v in frame_c["target"]} | {str(v) for v in frame_c["prediction"]})
    index = {c: i for i, c in enumerate(names)}

    def codes(values: Any) -> np.ndarray:
        return np.array([index[str(v)] for v in values], dtype=np.int64)

    def proba(frame: Any) -> np.ndarray | None:
        cols = [f"proba_{c}" for c in names]
        return frame[cols].to_numpy(float) if all(c in frame.columns for c in cols) else None

    return {"y": codes(frame_c["target"]), "c": codes(frame_c["prediction"]), "b": codes(frame_b["prediction"]),
            "pc": proba(frame_c), "pb": proba(frame_b), "k": len(names)}


def _judge(rules: list[Rule], ev_c: Any, ev_b: Any, task: str, inputs: dict[str, Any] | None) -> list[RuleResult]:
    out = []
    for i, rule in enumerate(rules, start=1):
        desc = rule.describe()
        mc = ev_c.metrics.get(rule.metric)
        mb = ev_b.metrics.get(rule.metric) if ev_b is not None else None
        if mc is None or not math.isfinite(mc.value):
            out.append(RuleResult(i, rule.metric, rule.kind, desc, "missing",
                                  f"the candidate's evaluation has no {rule.metric}: a rule that cannot be checked "
                                  "fails"))
            continue
        if rule.kind == "value":
            ok, detail = check_value(rule, mc.value)
            out.append(RuleResult(i, rule.metric, rule.kind, desc, PASS if ok else FAIL, detail, mc.value,
                                  mb.value if mb else None))
            continue
        if ev_b is None:
            out.append(RuleResult(i, rule.metric, rule.kind, desc, "skipped", "no baseline: only value rules apply",
                                  mc.value))
            continue
        if mb is None or not math.isfinite(mb.value):
            out.append(RuleResult(i, rule.metric, rule.kind, desc, "missing",
                                  f"the baseline's evaluation has no {rule.metric}", mc.value))
            continue
        if rule.kind == "change":
            ok, detail = check_change(rule, mc.value, mb.value)
            out.append(RuleResult(i, rule.metric, rule.kind, desc, PASS if ok else FAIL, detail, mc.value, mb.value,
                                  _oriented(rule, mc.value, mb.value)))
            continue
        assert inputs is not None
        try:
            if task == "regression":
                cmp = paired.regression(rule.metric, inputs["y"], inputs["c"], inputs["b"], method=rule.method,
                                        level=rule.confidence, resamples=rule.resamples, seed=rule.seed,
                                        margin=rule.margin)
            else:
                cmp = paired.classification(rule.metric, inputs["y"], inputs["c"], inputs["b"], inputs["pc"],
                                            inputs["pb"], inputs["k"], method=rule.method, level=rule.confidence,
                                            resamples=rule.resamples, seed=rule.seed, margin=rule.margin)
        except InvalidValueError as exc:
            out.append(RuleResult(i, rule.metric, rule.kind, desc, "missing", str(exc), mc.value, mb.value))
            continue
        delta, low, high = cmp.delta, cmp.low, cmp.high
        if rule.higher_is_better != HIGHER_IS_BETTER[rule.metric]:  # a direction set against the metric's
            delta, low, high = -delta, -high, -low
        bound = 0.0 if rule.test == "superiority" else -rule.margin
        ok = math.isfinite(low) and low > bound
        detail = (f"Δ {delta:+.4g}, {rule.confidence:.0%} CI [{low:+.4g}, {high:+.4g}] "
                  f"{'>' if ok else '≤'} {bound:+g}; one-sided p = {cmp.p_value:.3g}")
        out.append(RuleResult(i, rule.metric, rule.kind, desc, PASS if ok else FAIL, detail, cmp.candidate,
                              cmp.baseline, delta, low, high, cmp.p_value, cmp.method))
    return out


def run_gate(
    model: str, candidate: str, baseline: str | None, data: Any, target: str, spec: dict[str, Any], *,
    spec_text: str = "", predictions: Any = None, candidate_predictions: Any = None, baseline_predictions: Any = None,
    task: str | None = None, dataset_role: str = "holdout", promote: str | None = None, record: bool = True,
) -> GateResult:
    """Evaluate (or reuse the evaluations of) ``candidate`` and ``baseline`` on ``data`` and judge them by
    ``spec``; store the decision as a run and, on a pass with ``promote`` (a stage), move the candidate.

    Predictions: ``candidate_predictions`` / ``baseline_predictions`` (columns, arrays or functions of the
    features, as :func:`naiad.evaluate` takes them), or ``predictions`` — a function ``(features,
    version_id) → predictions`` used for both.
    """

    rules, min_rows = parse_spec(spec)

    def preds(version: str, given: Any) -> Any:
        if given is not None:
            return given
        if predictions is None:
            return None
        if callable(predictions):
            return lambda features: predictions(features, version)
        return predictions

    ev_c = evaluate(candidate, data, target, preds(candidate, candidate_predictions), task=task,
                          dataset_role=dataset_role, plots=False, drift=False)
    ev_b = None
    if baseline is not None:
        ev_b = evaluate(baseline, data, target, preds(baseline, baseline_predictions), task=ev_c.task,
                              dataset_role=dataset_role, plots=False, drift=False)
        if ev_b.dataset_hash != ev_c.dataset_hash:
            raise IntegrityError(f"the candidate was evaluated on dataset {ev_c.dataset_hash[:12]} and the baseline "
                                 f"on {ev_b.dataset_hash[:12]}: a gate compares them on the identical data only.")
    evaluations = {"candidate": ev_c.run} | ({"baseline": ev_b.run} if ev_b else {})
    context = _ci_context()
    if ev_c.n < min_rows:
        verdict, reason, results = INSUFFICIENT, f"{ev_c.n} rows, fewer than the {min_rows} the spec asks for", []
    else:
        inputs = None
        if ev_b is not None and any(r.kind == "test" for r in rules):
            frame_c, classes = _predictions_of(ev_c.run)
            frame_b, _ = _predictions_of(ev_b.run)
            inputs = _paired_inputs(frame_c, frame_b, classes, ev_c.task)
        results = _judge(rules, ev_c, ev_b, ev_c.task, inputs)
        applied = [r for r in results if r.verdict != "skipped"]
        failed = [r for r in applied if r.verdict != PASS]
        if not rules:
            verdict, reason = FAIL, "the spec has no rules: a gate without rules passes nothing"
        elif not applied:
            verdict, reason = FAIL, "no baseline and no value rule: nothing could be checked"
        elif failed:
            verdict = FAIL
            reason = f"{len(failed)} of {len(applied)} rule(s) failed: " + "; ".join(
                f"rule {r.index} ({r.metric} {r.description})" for r in failed)
        else:
            verdict = PASS
            reason = f"all {len(applied)} rule(s) passed" + (" (no baseline: value rules only)" if ev_b is None else "")
    result = GateResult(model, candidate, baseline, ev_c.dataset_hash, ev_c.n, verdict, reason, results, evaluations,
                        spec, context, _training_drift(candidate, baseline))
    decision = _open_decision(result, spec_text) if record else None
    try:
        if promote and verdict == PASS:  # after the decision is stored: a promotion policy looks for it
            mv = init_model_version(with_id=candidate)
            try:
                mv.change_stage(promote, reason=f"gate {result.run or ''} passed: {reason}".replace("  ", " "))
            finally:
                mv.stop()
            result.promoted = promote
        if decision is not None:  # the report and result say whether the candidate was promoted
            if result.promoted:
                decision["gate/promoted"] = result.promoted
            decision["gate/report"].upload(File.from_content(markdown(result), extension="md"))
            decision["gate/result"].upload(File.from_content(json.dumps(result.to_json(), indent=2,
                                                                              default=str), extension="json"))
    finally:
        if decision is not None:
            decision.stop()
    _announce(result)
    return result


def _announce(result: GateResult) -> None:
    """gate_passed / gate_failed to the project's webhooks."""
    from naiad.tracking.container import store_for

    store, _ = store_for("read-only")
    project = store.get_container(short_id=result.candidate).project
    store.emit_event(project, "gate_passed" if result.verdict == PASS else "gate_failed", {
        "model": result.model, "candidate": result.candidate, "baseline": result.baseline,
        "verdict": result.verdict, "reason": result.reason, "decision": result.run, "dataset_hash": result.dataset_hash,
        "n": result.n, "promoted": result.promoted, "commit": result.context.get("commit"),
        "ci_url": result.context.get("ci_url"), "actor": result.context.get("actor")})


def _training_drift(candidate: str, baseline: str | None) -> dict[str, Any] | None:
    """How the two versions' training data differ (their stored profiles), if both have one."""
    if baseline is None:
        return None
    from naiad.data.drift import compare
    from naiad.errors import MissingFieldError
    from naiad.registry.skew import read_profile

    try:
        report = compare(read_profile(baseline, "train"), read_profile(candidate, "train"))
    except (MissingFieldError, ConfigError):
        return None
    return {"verdict": report.verdict, "columns_tested": len(report.tested),
            "drifted": [{"column": c.column, "effect": c.effect, "effect_size": c.effect_size}
                        for c in report.drifted]}


def _open_decision(result: GateResult, spec_text: str) -> Any:
    """The decision run with every rule's result stored (``result.run`` is its id); left open for the
    report, which is written once the promotion, if any, is done."""
    from naiad.tracking.container import store_for

    store, _ = store_for("read-only")
    project = store.get_container(short_id=result.candidate).project
    run = init_run(project=project, name=f"gate {result.candidate} vs {result.baseline or 'no baseline'}",
                         tags=["gate", result.verdict], capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    try:
        run["gate"] = {"model": result.model, "candidate": result.candidate, "baseline": result.baseline or "",
                       "dataset_hash": result.dataset_hash, "n_rows": result.n, "verdict": result.verdict,
                       "reason": result.reason, "spec": spec_text or json.dumps(result.spec),
                       "evaluations": result.evaluations, "commit": result.context.get("commit", ""),
                       "ci_url": result.context.get("ci_url", ""), "actor": result.context.get("actor", "")}
        for r in result.rules:
            fields: dict[str, Any] = {"metric": r.metric, "kind": r.kind, "rule": r.description, "verdict": r.verdict,
                                      "detail": r.detail}
            for key in ("candidate", "baseline", "delta", "low", "high", "p_value"):
                value = getattr(r, key)
                if value is not None and math.isfinite(value):
                    fields[key] = float(value)
            if r.method:
                fields["method"] = r.method
            run[f"gate/rules/{r.index}"] = fields
        run.wait()
        result.run = str(run["sys/id"].fetch())
    except BaseException:
        run.stop()
        raise
    return run


# ------------------------------------------------------------------------------------------ the report
def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _link(version: str | None) -> str:
    from naiad.config import SETTINGS

    if not version:
        return "none"
    base = SETTINGS.ui_url.get().rstrip("/")
    if not base:
        return f"`{version}`"
    model = version.rsplit("-", 1)[0]
    return f"[{version}]({base}/models/{model}/versions/{version})"


def markdown(result: GateResult) -> str:
    """The report for a pull-request comment; its first line is a hidden tag, so a CI step can update one
    comment per model instead of adding one per push.  No images: nothing goes to third-party hosts."""
    icon = {PASS: "✅", FAIL: "❌", INSUFFICIENT: "⚠️"}[result.verdict]
    lines = [REPORT_TAG.format(model=result.model),
             f"## naiad gate {icon} {result.verdict.upper()}: {_link(result.candidate)} vs {_link(result.baseline)}",
             "",
             f"{result.reason}.",
             "",
             f"Data: dataset `{result.dataset_hash[:12]}` · {result.n:,} rows · decision "
             f"`{result.run or 'not recorded'}`" + (" · no baseline: value rules only" if not result.baseline else ""),
             ""]
    if result.rules:
        lines += ["| # | metric | rule | candidate | baseline | Δ (CI) | p | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result.rules:
            ci = f" [{_fmt(r.low, True)}, {_fmt(r.high, True)}]" if r.low is not None else ""
            mark = {PASS: "✅ pass", FAIL: "❌ fail", "missing": "❌ missing", "skipped": "➖ skipped"}[r.verdict]
            lines.append(f"| {r.index} | {r.metric} | {r.description} | {_fmt(r.candidate)} | {_fmt(r.baseline)} | "
                         f"{_fmt(r.delta, True)}{ci} | {_fmt(r.p_value)} | {mark} |")
        lines.append("")
        methods = sorted({r.method for r in result.rules if r.method})
        if methods:
            lines += ["Δ is oriented so that positive means the candidate is better; a test rule passes when the "
                      "lower end of its two-sided interval clears the bound (0 for superiority, −margin for "
                      "non-inferiority). Methods: " + "; ".join(methods) + ".", ""]
    drift = result.training_drift
    if drift is not None:
        drifted = drift["drifted"]
        lines += [f"Training data: the candidate's differs from the baseline's in {len(drifted)} of "
                  f"{drift['columns_tested']} columns" + (": " + ", ".join(
                      f"{d['column']} ({d['effect']} {d['effect_size']:.2f})" for d in drifted[:8]) if drifted else "")
                  + ".", ""]
    ctx = result.context
    tail = [f"commit `{ctx['commit'][:12]}`" if ctx.get("commit") else "",
            f"[CI run]({ctx['ci_url']})" if ctx.get("ci_url") else "", f"run by {ctx['actor']}" if ctx.get("actor")
            else "", f"promoted to {result.promoted}" if result.promoted else "",
            _dt.datetime.now(tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")]
    lines += [" · ".join(t for t in tail if t), "",
              "<details><summary>gate spec</summary>", "", "```yaml",
              _spec_text(result.spec), "```", "", "</details>", ""]
    return "\n".join(lines)


def _spec_text(spec: dict[str, Any]) -> str:
    try:
        import yaml

        return str(yaml.safe_dump(spec, sort_keys=False)).rstrip()
    except ImportError:
        return json.dumps(spec, indent=2)


def decision_rows(store: Any, info: Any) -> list[dict[str, Any]]:
    """Every gate decision about the model ``info``'s versions, oldest first, as records (``time`` in
    epoch seconds): what :func:`fetch_gate_decisions` frames and the UI shows on model and version pages."""
    from naiad.store.base import RUN

    table = store.query_table(info.project, RUN, query=f'`gate/model`:string = "{info.short_id}" AND '
                              '`sys/trashed`:bool = false', columns=["gate", "sys/creation_time"],
                              sort_by="sys/creation_time", ascending=True)
    rows = []
    for run_id, row in zip(table.ids, table.rows, strict=True):
        v = {p: fv.value for p, fv in row.items()}
        rows.append({"time": v.get("sys/creation_time") or 0.0, "run": run_id,
                     "candidate": v.get("gate/candidate"), "baseline": v.get("gate/baseline") or None,
                     "verdict": v.get("gate/verdict"), "reason": v.get("gate/reason"), "n": v.get("gate/n_rows"),
                     "dataset_hash": v.get("gate/dataset_hash"), "commit": v.get("gate/commit") or None,
                     "ci_url": v.get("gate/ci_url") or None, "actor": v.get("gate/actor") or None})
    return rows


DECISION_COLUMNS = ["time", "run", "candidate", "baseline", "verdict", "reason", "n", "dataset_hash", "commit",
                    "ci_url", "actor"]


def fetch_gate_decisions(model: str) -> Any:
    """Every gate decision about ``model``'s versions, oldest first: time, run, candidate, baseline, verdict,
    reason, rows, dataset hash, commit, CI run, who ran it."""
    import pandas as pd

    from naiad.monitoring.monitor import model_info
    from naiad.tracking.container import store_for

    store, _ = store_for("read-only")
    frame = pd.DataFrame(decision_rows(store, model_info(store, model)), columns=DECISION_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"].astype(float), unit="s", utc=True)
    return frame

