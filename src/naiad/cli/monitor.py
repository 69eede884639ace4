"""``naiad monitor …``: the cron / CI entry point of production monitoring.

    naiad monitor run --model DEF-CLS --data samples/2026-11.parquet --target label --predictions served
    naiad monitor timeline --model DEF-CLS [--metric accuracy] [--json]
    naiad monitor rule DEF-CLS [--metric accuracy --floor 0.85 --sigmas 3 --min-rows 50]
    naiad monitor drift --model DEF-CLS             column drift per evaluation
    naiad monitor skew DEF-CLS-3 [--code /srv/app/inference]   training–serving skew
    naiad monitor feature-skew served.parquet recomputed.parquet --key request_id

``monitor run`` exits 0 when the evaluation is fine, 1 when it is degraded, 2 when there is not
enough data for a verdict, and 3 with a message when it could not evaluate at all (a usage mistake,
a missing file, an unknown model).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from typing import Any, NoReturn

import click

from naiad.cli.common import _console

_URI = click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
EXIT_OK, EXIT_DEGRADED, EXIT_INSUFFICIENT, EXIT_ERROR = 0, 1, 2, 3


def _usage_error_exit(exc: click.UsageError) -> NoReturn:
    """Print a usage mistake as click does, then exit 3. (Click's exceptions declare `exit_code` a class
    variable, so the status is set by exiting here, not by changing the exception.)"""
    exc.show()
    raise click.exceptions.Exit(EXIT_ERROR)


class _Verdict(click.Command):
    """A command whose exit status is a verdict: anything that stops it from reaching one (a usage
    mistake, a missing file, an unknown model) exits 3, never 1 or 2, so a cron job can tell them apart."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _usage_error_exit(exc)

    def invoke(self, ctx: click.Context) -> Any:
        from naiad.errors import NaiadError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _usage_error_exit(exc)
        except NaiadError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(EXIT_ERROR) from None


def _use_uri(uri: str | None) -> None:
    if uri:
        os.environ["NAIAD_URI"] = uri


def _predict_fn(spec: str) -> Any:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise click.BadParameter("write it as module:function (the function takes the features DataFrame and "
                                 "returns labels or class probabilities).", param_hint="--predict")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec}: {exc}", param_hint="--predict") from None
    return fn


@click.group()
def monitor() -> None:
    """Production monitoring: evaluate the production model on fresh data, keep the timeline, flag decay."""


@monitor.command("run", cls=_Verdict)
@click.option("--model", "-m", required=True, help="the model, e.g. DEF-CLS")
@click.option("--stage", type=click.Choice(["production", "staging"]), help="evaluate the version in this stage "
              "(default: production)")
@click.option("--alias", help="evaluate the version holding this alias")
@click.option("--version", "version", help="evaluate this version")
@click.option("--data", required=True, type=click.Path(exists=True), help="CSV / Parquet file or folder")
@click.option("--target", required=True, help="the column with the true values")
@click.option("--predictions", help="column with the predictions the service made (default: 'prediction')")
@click.option("--proba", help="comma-separated probability columns, in class order")
@click.option("--predict", "predict", help="module:function computing predictions from the features")
@click.option("--task", type=click.Choice(["classification", "regression"]))
@click.option("--role", "role", default="production sample", show_default=True,
              help="the dataset's role, e.g. production-2026-11")
@click.option("--slices", help="comma-separated columns to compute metrics per value of")
@click.option("--force", is_flag=True, help="evaluate again even if this version saw this exact data before")
@click.option("--fail-on-drift", is_flag=True, help="exit 1 when the data drifted from the training data too")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@_URI
def monitor_run(model: str, stage: str | None, alias: str | None, version: str | None, data: str, target: str,
                predictions: str | None, proba: str | None, predict: str | None, task: str | None, role: str,
                slices: str | None, force: bool, fail_on_drift: bool, as_json: bool, uri: str | None) -> None:
    """Evaluate MODEL's production version on --data, record it, judge it by the model's rule."""
    import naiad
    from naiad.monitoring.monitor import (
        DEGRADED,
        INSUFFICIENT,
        get_degradation_rule,
        judge,
        list_evaluations,
        resolve_version,
    )

    _use_uri(uri)
    given = [x for x in (predictions, proba, predict) if x]
    if len(given) > 1:
        raise click.UsageError("give one of --predictions, --proba and --predict.")
    pred: Any = predictions or (proba.split(",") if proba else None) or (_predict_fn(predict) if predict else None)
    chosen = resolve_version(model, stage=stage, alias=alias, version=version)
    rule = get_degradation_rule(model)
    ev = naiad.evaluate(chosen, data, target, pred, task=task, dataset_role=role.replace(" ", "-"),
                        slices=[s.strip() for s in slices.split(",") if s.strip()] if slices else None, force=force)
    from naiad.tracking.container import store_for

    store, _ = store_for("read-only")
    history = [e for e in list_evaluations(store, store.get_container(short_id=model).project, model)
               if e.model_version == chosen]
    verdict = judge(ev, rule, history[0] if history else None)
    # the store judges the stored evaluation itself and alerts once per evaluation (a reused one was
    # judged when it was made: a cron job on unchanged data is quiet); no client posts an alert
    if not ev.reused:
        from naiad.monitoring.alerts import check
        from naiad.tracking.container import default_owner

        check(store, model, ev.run, actor=default_owner())
    if as_json:
        click.echo(json.dumps({"model": model, "version": chosen, "run": ev.run, "reused": ev.reused,
                               "dataset_hash": ev.dataset_hash, "n": ev.n, "status": verdict.status,
                               "reason": verdict.reason, "metric": verdict.metric, "value": verdict.value,
                               "reference": verdict.reference, "drift": ev.drift,
                               "metrics": {k: {"value": x.value, "low": x.low, "high": x.high}
                                           for k, x in ev.metrics.items()}}, indent=2))
    else:
        click.echo(f"{chosen} on {ev.dataset_role} ({ev.n} rows, dataset {ev.dataset_hash[:12]}): evaluation "
                   f"{ev.run}{' (stored earlier; --force to redo)' if ev.reused else ''}")
        for name, x in sorted(ev.metrics.items()):
            ci = f"  [{x.low:.4g}, {x.high:.4g}]" if math.isfinite(x.low) else ""
            click.echo(f"  {name:<10} {x.value:.4g}{ci}")
        if ev.drift:
            drifted = ev.drift.get("drifted") or []
            click.echo(f"drift against the training data: {ev.drift.get('verdict')} — "
                       f"{ev.drift.get('columns_drifted', len(drifted))} of {ev.drift.get('columns_tested', '?')} "
                       f"columns drifted" + (f" ({', '.join(map(str, drifted[:10]))})" if drifted else ""))
        else:
            click.echo("drift: not measured (the version has no training profile: register it with training data)")
        click.echo(f"{verdict.status.upper()}: {verdict.reason}")
    if verdict.status == DEGRADED or (fail_on_drift and ev.drift.get("verdict") == "drift"):
        raise SystemExit(EXIT_DEGRADED)
    raise SystemExit(EXIT_INSUFFICIENT if verdict.status == INSUFFICIENT else EXIT_OK)


@monitor.command("timeline")
@click.option("--model", "-m", required=True, help="the model, e.g. DEF-CLS")
@click.option("--metric", help="the metric to show (default: the rule's)")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@_URI
def monitor_timeline(model: str, metric: str | None, as_json: bool, uri: str | None) -> None:
    """MODEL's evaluations over time: the metric with its CI, the version in production then, the verdict."""
    import naiad

    _use_uri(uri)
    frame = naiad.fetch_evaluations(model, metric=metric)
    if as_json:
        for rec in frame.to_dict("records"):
            rec["time"] = rec["time"].isoformat()
            click.echo(json.dumps(rec))
        return
    if frame.empty:
        click.echo(f"{model} has no evaluations yet; record one with `naiad monitor run` or naiad.evaluate().")
        return
    from rich.table import Table

    table = Table(title=f"{model} — {len(frame)} evaluation(s), {frame['metric'].iloc[0]}")
    for col in ("time", "run", "version", "in production", "data", "rows", "value", "95% CI", "status"):
        table.add_column(col, overflow="fold")
    for rec in frame.to_dict("records"):
        ci = f"[{rec['ci_low']:.4g}, {rec['ci_high']:.4g}]" if math.isfinite(rec["ci_low"]) else "-"
        status = rec["status"] if rec["status"] != "degraded" else "[bold red]degraded[/bold red]"
        table.add_row(rec["time"].strftime("%Y-%m-%d %H:%M"), rec["run"], rec["version"],
                      rec["production_then"] or "-", rec["dataset_role"], str(rec["n"]), f"{rec['value']:.4g}", ci,
                      status)
    _console().print(table)


@monitor.command("drift")
@click.option("--model", "-m", required=True, help="the model, e.g. DEF-CLS")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@_URI
def monitor_drift(model: str, as_json: bool, uri: str | None) -> None:
    """Column drift of each evaluation of MODEL against its version's training data (a heat-map in text:
    the effect size per column and evaluation, * where the column drifted)."""
    import naiad

    _use_uri(uri)
    frame = naiad.fetch_drift(model)
    if as_json:
        for rec in frame.to_dict("records"):
            rec["time"] = rec["time"].isoformat()
            click.echo(json.dumps(rec, default=str))
        return
    if frame.empty:
        click.echo(f"{model} has no drift results yet (evaluations of versions with a training profile have them).")
        return
    from rich.table import Table

    runs = list(dict.fromkeys(frame["run"]))
    table = Table(title=f"{model} — drift effect size per column (* drifted)")
    table.add_column("column")
    for run in runs:
        table.add_column(run, justify="right")
    for column, rows in frame.groupby("column", sort=True):
        cells = {r["run"]: r for r in rows.to_dict("records")}
        table.add_row(str(column), *[
            "" if run not in cells or not math.isfinite(cells[run]["effect_size"])
            else f"{cells[run]['effect_size']:.3f}{' *' if cells[run]['verdict'] == 'drift' else ''}" for run in runs])
    _console().print(table)


@monitor.command("skew")
@click.argument("version")
@click.option("--code", "code", type=click.Path(exists=True, file_okay=False),
              help="the folder of inference code the service runs, to compare with the version's")
@click.option("--serving", default="serving", show_default=True, help="the role of the serving profile")
@_URI
def monitor_skew(version: str, code: str | None, serving: str, uri: str | None) -> None:
    """Training–serving skew of VERSION: its serving profile (naiad.log_profile) against its training
    profile, and with --code the inference files whose content differs.  Exit 1 when any column or file
    differs (one skewed feature is enough to serve wrong answers)."""
    import naiad
    from naiad.errors import MissingFieldError

    _use_uri(uri)
    skewed = False
    try:
        report = naiad.distribution_skew(version, serving=serving)
    except MissingFieldError as exc:
        click.echo(f"distribution skew: not measured ({exc})")
    else:
        click.echo(f"distribution skew: {len(report.drifted)} of {len(report.tested)} columns differ from training "
                   f"(dataset verdict: {report.verdict})")
        for c in report.drifted:
            click.echo(f"  {c.column}: {c.effect} {c.effect_size:.3f} (p adj. {c.p_adjusted:.2g})")
        skewed = report.verdict == "drift" or bool(report.drifted)
    if code:
        differ = naiad.code_skew(version, code)
        click.echo(f"code skew: {len(differ)} file(s) differ" if differ else "code skew: none (every file matches)")
        for name, hashes in differ.items():
            reg, run = hashes["registered"], hashes["running"]
            click.echo(f"  {name}: registered {reg[:12] if reg else 'absent'}, running {run[:12] if run else 'absent'}")
        skewed = skewed or bool(differ)
    raise SystemExit(1 if skewed else 0)


@monitor.command("feature-skew")
@click.argument("serving", type=click.Path(exists=True))
@click.argument("recomputed", type=click.Path(exists=True))
@click.option("--key", required=True, help="the column that matches rows (a request id)")
@click.option("--features", help="comma-separated features to compare (default: every shared column)")
@click.option("--tolerance", type=float, default=1e-9, show_default=True, help="relative tolerance for numbers")
@click.option("--max-rate", type=float, default=0.0, show_default=True,
              help="exit 1 when a feature's mismatch rate is above this")
def monitor_feature_skew(serving: str, recomputed: str, key: str, features: str | None, tolerance: float,
                         max_rate: float) -> None:
    """Features the service computed (SERVING) against the training pipeline's values for the same requests
    (RECOMPUTED), both CSV/Parquet: the share of rows that differ, per feature."""
    import naiad
    from naiad.monitoring.evaluation import load_data

    frame = naiad.feature_skew(load_data(serving)[0], load_data(recomputed)[0], key=key,
                               features=[f.strip() for f in features.split(",")] if features else None,
                               tolerance=tolerance)
    worst = 0.0
    for rec in frame.to_dict("records"):
        click.echo(f"  {rec['feature']:<30} {rec['mismatches']:>8} of {rec['rows']:<8} differ "
                   f"({rec['mismatch_rate']:.2%})")
        worst = max(worst, rec["mismatch_rate"] if math.isfinite(rec["mismatch_rate"]) else 0.0)
    click.echo(f"feature skew: worst mismatch rate {worst:.2%} (allowed {max_rate:.2%})")
    raise SystemExit(1 if worst > max_rate else 0)


@monitor.command("rule")
@click.argument("model")
@click.option("--metric", help="the metric to watch (default: accuracy / rmse by task)")
@click.option("--floor", type=float, help="degraded past this value, whatever the reference")
@click.option("--sigmas", type=float, help="degraded when worse than the reference by more than this many "
              "standard errors (default 3)")
@click.option("--reference", type=float, help="a fixed reference level (default: the version's first evaluation)")
@click.option("--min-rows", type=int, help="fewer rows give 'insufficient data' (default 30)")
@_URI
def monitor_rule(model: str, metric: str | None, floor: float | None, sigmas: float | None, reference: float | None,
                 min_rows: int | None, uri: str | None) -> None:
    """Show MODEL's degradation rule, or change the parts given as options."""
    import naiad

    _use_uri(uri)
    rule = naiad.get_degradation_rule(model)
    if any(v is not None for v in (metric, floor, sigmas, reference, min_rows)):  # change what was given
        rule = naiad.set_degradation_rule(
            model, metric=metric or rule.metric, floor=rule.floor if floor is None else floor,
            sigmas=rule.sigmas if sigmas is None else sigmas,
            reference=rule.reference if reference is None else reference,
            min_rows=rule.min_rows if min_rows is None else min_rows)
    click.echo(f"{model}: metric {rule.metric or 'accuracy (classifiers) / rmse (regressors)'}, "
               f"floor {rule.floor if rule.floor is not None else '-'}, {rule.sigmas:g}σ below "
               f"{rule.reference if rule.reference is not None else 'the version’s first evaluation'}, "
               f"at least {rule.min_rows} rows")


def register(main: click.Group) -> None:
    main.add_command(monitor)
