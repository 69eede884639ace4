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

import json
import math
import os
import subprocess
import tempfile
from dataclasses import asdict
from typing import Any

import numpy as np

from naiad.errors import ConfigError, IntegrityError, InvalidValueError
from naiad.gate import paired
from naiad.gate.report import markdown
from naiad.gate.spec import (
    FAIL,
    INSUFFICIENT,
    PASS,
    GateResult,
    Rule,
    RuleResult,
    check_change,
    check_value,
    oriented,
    parse_spec,
)
from naiad.monitoring.evaluation import evaluate
from naiad.monitoring.metrics import HIGHER_IS_BETTER
from naiad.registry.model import init_model_version
from naiad.tracking.files import File
from naiad.tracking.run import init_run


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
                             "the same; run the gate again with --force (force=True).")
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
                                  oriented(rule, mc.value, mb.value)))
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
    force: bool = False,
) -> GateResult:
    """Evaluate (or reuse the evaluations of) ``candidate`` and ``baseline`` on ``data`` and judge them by
    ``spec``; store the decision as a run and, on a pass with ``promote`` (a stage), move the candidate.

    Predictions: ``candidate_predictions`` / ``baseline_predictions`` (columns, arrays or functions of the
    features, as :func:`naiad.evaluate` takes them), or ``predictions`` — a function ``(features,
    version_id) → predictions`` used for both.  A version's stored evaluation is reused when it was made on
    the same data from the same predictions (``result.reused`` says which); ``force`` evaluates both again.
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
                    dataset_role=dataset_role, plots=False, drift=False, force=force)
    ev_b = None
    if baseline is not None:
        ev_b = evaluate(baseline, data, target, preds(baseline, baseline_predictions), task=ev_c.task,
                        dataset_role=dataset_role, plots=False, drift=False, force=force)
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
    result.reused = [role for role, ev in (("candidate", ev_c), ("baseline", ev_b)) if ev is not None and ev.reused]
    decision = _open_decision(result, spec_text) if record else None
    try:
        if record:
            _record(result)
        if promote and verdict == PASS:  # after the decision is recorded: a promotion policy looks for it
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
    return result


def _record(result: GateResult) -> None:
    """The store's record of the decision — the only evidence a promotion policy takes — and, from the
    store, its gate_passed / gate_failed event.  On a server the calling account is recorded as its
    actor (a contributor's decision is kept, but counts only for a policy that names the account)."""
    from naiad.tracking.container import default_owner, store_for

    store, _ = store_for("read-only")
    details = {"commit": result.context.get("commit"), "ci_url": result.context.get("ci_url"),
               "ci_actor": result.context.get("actor"), "evaluations": result.evaluations, "spec": result.spec,
               "rules": [asdict(r) for r in result.rules], "training_drift": result.training_drift}
    recorded = store.record_gate_decision(
        result.model, result.candidate, result.baseline, dataset_hash=result.dataset_hash, n=result.n,
        verdict=result.verdict, reason=result.reason, run=result.run or "", details=details,
        actor=result.context.get("actor") or default_owner(), actor_role="local")
    result.decision_id = recorded.id


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


