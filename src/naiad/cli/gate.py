"""``naiad gate``: the CI step that promotes a retrained model only on evidence.

    naiad gate --model DEF-CLS --candidate DEF-CLS-5 --baseline stage:production \\
               --data holdout.parquet --target label --spec gate.yaml --report gate.md [--promote]

Exit status: 0 pass, 1 fail, 2 not enough data, 3 could not run (a usage mistake, a missing file…).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from naiad.cli.monitor import _predict_fn, _use_uri, _Verdict


def _baseline(model: str, spec: str) -> str | None:
    """``stage:production`` / ``alias:champion`` / a version id / ``none``."""
    import naiad

    if spec.lower() == "none":
        return None
    kind, _, name = spec.partition(":")
    if kind in ("stage", "alias") and name:
        with naiad.init_model(with_id=model, mode="read-only") as m:
            if kind == "stage":  # nobody in production yet (a first model): no baseline, value rules only
                return m.version(stage=name)
            found = m.version(alias=name)
        if found is None:  # an alias names a version on purpose: a typo must not drop the comparison
            raise click.BadParameter(f"{model} has no version with alias {name!r}.", param_hint="--baseline")
        return found
    if not spec.startswith(model + "-"):
        raise click.BadParameter(f"{spec!r}: give stage:NAME, alias:NAME, a version of {model} or none.",
                                 param_hint="--baseline")
    return spec


@click.command("gate", cls=_Verdict)
@click.option("--model", "-m", required=True, help="the model, e.g. DEF-CLS")
@click.option("--candidate", "-c", required=True, help="the version to judge, e.g. DEF-CLS-5")
@click.option("--baseline", "-b", default="stage:production", show_default=True,
              help="what to compare with: stage:NAME, alias:NAME, a version id, or none (value rules only)")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="the holdout data (CSV/Parquet file or folder)")
@click.option("--target", required=True, help="the column with the true values")
@click.option("--spec", "spec_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the rules (YAML or JSON), stored with the decision")
@click.option("--candidate-predictions", help="column of --data with the candidate's predictions")
@click.option("--baseline-predictions", help="column of --data with the baseline's predictions")
@click.option("--predict", "predict", help="module:function(features, version_id) computing predictions")
@click.option("--task", type=click.Choice(["classification", "regression"]))
@click.option("--role", "role", default="holdout", show_default=True, help="the dataset's role in the lineage")
@click.option("--report", "report", type=click.Path(dir_okay=False), help="write the Markdown report here")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the result as JSON here")
@click.option("--promote", is_flag=True, help="on pass, move the candidate to production")
@click.option("--promote-to", type=click.Choice(["staging", "production"]), help="on pass, move the candidate here")
@click.option("--force", is_flag=True, help="evaluate both versions again, even where a stored evaluation was made "
                                            "on the same data from the same predictions")
@click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
def gate(model: str, candidate: str, baseline: str, data: str, target: str, spec_path: str,
         candidate_predictions: str | None, baseline_predictions: str | None, predict: str | None, task: str | None,
         role: str, report: str | None, json_path: str | None, promote: bool, promote_to: str | None,
         force: bool, uri: str | None) -> None:
    """Judge CANDIDATE against the baseline on the same data by the spec's rules; record the decision."""
    from naiad.gate.promote import run_gate
    from naiad.gate.report import markdown
    from naiad.gate.spec import FAIL, INSUFFICIENT, PASS, load_spec

    _use_uri(uri)
    if promote and promote_to and promote_to != "production":
        raise click.UsageError("give --promote or --promote-to, not both.")
    if not candidate.startswith(model + "-"):
        raise click.BadParameter(f"{candidate} is not a version of {model}.", param_hint="--candidate")
    spec, text = load_spec(spec_path)
    base = _baseline(model, baseline)
    if base == candidate:
        raise click.UsageError(f"{candidate} is the baseline itself ({baseline}); nothing to compare.")
    fn: Any = _predict_fn(predict) if predict else None
    result = run_gate(model, candidate, base, data, target, spec, spec_text=text, predictions=fn,
                      candidate_predictions=candidate_predictions, baseline_predictions=baseline_predictions,
                      task=task, dataset_role=role.replace(" ", "-"),
                      promote="production" if promote else promote_to, force=force)
    text_report = markdown(result)
    if report:
        Path(report).write_text(text_report)
    if json_path:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    click.echo(f"{result.verdict.upper()}: {candidate} vs {base or 'no baseline'} on {result.n:,} rows "
               f"(dataset {result.dataset_hash[:12]}) — {result.reason}")
    for r in result.rules:
        click.echo(f"  [{r.verdict}] rule {r.index}: {r.metric} {r.description}: {r.detail}")
    for role in result.reused:
        click.echo(f"  {role}: reused evaluation {result.evaluations[role]} (same data, same predictions; --force "
                   "evaluates again)")
    if result.run:
        click.echo(f"decision recorded as {result.run}" + (f"; {candidate} promoted to {result.promoted}"
                                                          if result.promoted else ""))
    raise SystemExit({PASS: 0, FAIL: 1, INSUFFICIENT: 2}[result.verdict])


def register(main: click.Group) -> None:
    main.add_command(gate)
